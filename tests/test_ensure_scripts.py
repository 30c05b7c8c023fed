"""The scripts that prepare the test servers change a developer's machine only when asked to
(``CI=true`` or ``DDBPROJ_INSTALL_SERVERS=1``): without that, a missing or stopped server is
reported with the commands that fix it and the script exits 1, having run none of them.

Each server here is one that cannot answer (a port nothing listens on, a program that is not
there); a stand-in program that leaves a mark when run proves nothing was started."""

import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest

from ddbproj.handlers.pytest_plugin import docker_answers

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONSENT_VARIABLES = ("CI", "DDBPROJ_INSTALL_SERVERS")


def free_port() -> int:
    """A port nothing listens on (one the system just handed out and took back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_consent(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {*CONSENT_VARIABLES, "TEST_DATABASE_URL", "DOCKER_HOST", "MYSQLD",
                        "DOCKERD", "DDBPROJ_LOCAL_MYSQL_HOST", "DDBPROJ_LOCAL_MYSQL_PORT"}}
    return {**env, "PYTHON": sys.executable, **extra}


def run_script(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", script, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=120)


def marking_program(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """An executable that leaves ``<name>.ran`` when run: a server that is installed and
    down, which the script must not start."""
    program, mark = directory / name, directory / f"{name}.ran"
    program.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {mark}\n")
    program.chmod(0o755)
    return program, mark


# --- tests/ensure-mysql.sh --------------------------------------------------------------------


@pytest.mark.parametrize("not_consent", [{}, {"CI": "false"}, {"DDBPROJ_INSTALL_SERVERS": "0"}])
def test_mysql_no_server_installed_is_reported_with_the_install_commands(tmp_path, not_consent):
    port = free_port()
    missing = tmp_path / "mariadbd"
    done = run_script("tests/ensure-mysql.sh", "--local", env=without_consent(
        DDBPROJ_LOCAL_MYSQL_PORT=str(port), MYSQLD=str(missing), **not_consent))

    assert done.returncode == 1
    assert done.stdout == ""  # nothing announced, so nothing ran
    lines = done.stderr.splitlines()
    assert lines[0] == (f"mysql: no server answers on 127.0.0.1:{port} and none is installed "
                        f"({missing} is missing). This script changes nothing on this machine "
                        "unless asked to.")
    assert lines[2:6] == [
        "    apt-get update -qq",
        "    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server",
        "    mkdir -p /run/mysqld",
        "    chown mysql:mysql /run/mysqld",
    ] if os.getuid() == 0 else [
        "    sudo apt-get update -qq",
        "    sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server",
        "    sudo mkdir -p /run/mysqld",
        "    sudo chown mysql:mysql /run/mysqld",
    ]
    assert (f"start-stop-daemon --start --oknodo --background --exec {missing} -- --user=mysql "
            f"--bind-address=127.0.0.1 --port={port}") in lines[6]
    assert "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 bash tests/ensure-mysql.sh " \
           "--local" in lines


def test_mysql_installed_but_stopped_is_not_started(tmp_path):
    port = free_port()
    server, ran = marking_program(tmp_path, "mariadbd")
    done = run_script("tests/ensure-mysql.sh", "--local", env=without_consent(
        DDBPROJ_LOCAL_MYSQL_PORT=str(port), MYSQLD=str(server)))

    assert done.returncode == 1
    assert done.stdout == ""
    assert not ran.exists()
    assert done.stderr.splitlines()[0] == (
        f"mysql: no server answers on 127.0.0.1:{port}; {server} is installed but not running. "
        "This script changes nothing on this machine unless asked to.")
    assert f"--exec {server} -- --user=mysql --bind-address=127.0.0.1 --port={port}" in done.stderr
    assert "ALTER USER 'root'@'localhost'" in done.stderr
    assert "apt-get" not in done.stderr


def test_mysql_by_the_plugins_rule_reaches_the_same_refusal_when_it_chooses_the_local_server(
    tmp_path,
):
    port = free_port()
    server, ran = marking_program(tmp_path, "mariadbd")
    done = run_script("tests/ensure-mysql.sh", env=without_consent(
        DDBPROJ_LOCAL_MYSQL_PORT=str(port), MYSQLD=str(server),
        DOCKER_HOST=f"unix://{tmp_path / 'docker.sock'}"))

    assert done.returncode == 1
    assert not ran.exists()
    assert "is installed but not running" in done.stderr
    assert "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 bash tests/ensure-mysql.sh\n" \
        in done.stderr


# --- tests/docker/ensure-engine.sh ------------------------------------------------------------

needs_no_engine = pytest.mark.skipif(
    docker_answers({}), reason="a Docker engine answers at the default socket")


@needs_no_engine
def test_engine_not_installed_is_reported_and_install_asks_for_consent(tmp_path):
    done = run_script("tests/docker/ensure-engine.sh", "--install",
                      env=without_consent(DOCKERD=str(tmp_path / "dockerd")))

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == ("docker: no engine answers and dockerd is not installed. This script "
                        "changes nothing on this machine unless asked to.")
    assert any(line.endswith("apt-get install -y -qq docker.io") for line in lines)
    assert "or let this script run them: DDBPROJ_INSTALL_SERVERS=1 bash " \
           "tests/docker/ensure-engine.sh --install" in lines


@needs_no_engine
def test_engine_installed_but_stopped_is_not_started(tmp_path):
    engine, ran = marking_program(tmp_path, "dockerd")
    done = run_script("tests/docker/ensure-engine.sh", env=without_consent(DOCKERD=str(engine)))

    assert done.returncode == 1
    assert done.stdout == ""
    assert not ran.exists()
    assert done.stderr.splitlines()[0] == (
        f"docker: no engine answers; {engine} is installed but not running. This script "
        "changes nothing on this machine unless asked to.")
    assert f"nohup {engine} >>/var/log/ddbproj-dockerd.log" in done.stderr
    assert "apt-get" not in done.stderr


# --- tests/docker/build-mysql-image.sh --------------------------------------------------------

SYSTEM_PATH = "/usr/bin:/bin"


@pytest.mark.skipif(shutil.which("debootstrap", path=SYSTEM_PATH) is not None,
                    reason="debootstrap is installed where the script would find it")
def test_image_build_without_debootstrap_asks_for_consent_to_install_it(tmp_path):
    calls = tmp_path / "docker.calls"
    docker = tmp_path / "docker"  # an engine that answers and holds no image
    docker.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n[ "$1" = version ]\n')
    docker.chmod(0o755)
    done = run_script("tests/docker/build-mysql-image.sh", env=without_consent(
        PATH=f"{tmp_path}:{SYSTEM_PATH}", IMAGE="ddbproj-test-mysql:check"))

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(
        "mysql image: building ddbproj-test-mysql:check needs debootstrap, which is not "
        "installed.")
    assert "apt-get install -y -qq debootstrap\n" in done.stderr
    assert "DDBPROJ_INSTALL_SERVERS=1 bash tests/docker/build-mysql-image.sh" in done.stderr
    assert [call.split()[:2] for call in calls.read_text().splitlines()] == [
        ["version"], ["image", "inspect"], ["image", "inspect"]]
