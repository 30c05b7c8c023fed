"""The authors' kit: stream events built from dicts or attrs objects, and the runner."""

import datetime
import os
import pathlib
import re
import subprocess
import sys
from decimal import Decimal

import attrs
import pytest
import sqlalchemy as sa
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from ddbproj.core import ProjectorRegistry, decode_image, parse_event
from ddbproj.core.events import (
    DEFAULT_SEQUENCE_START,
    StreamEventBuilder,
    current_builder,
    insert,
    item_of,
    modify,
    remove,
    stream_event,
)
from ddbproj.core.projector import Projector, compile_projector
from ddbproj.handlers.pytest_plugin import ServerChoice, _Url, choose_server, docker_answers
from projections.orders import Address, Order, OrderLine, OrderProjector, OrderStatus
from projections.users import User, UserProjector

ORDER = Order(
    order_id="A-1", customer_id=7, total=Decimal("99999999999.99"), status=OrderStatus.PAID,
    placed_at=datetime.datetime(2024, 7, 20, 3, 30, 23, 1, tzinfo=datetime.UTC),
    shipping_address=Address("1-1 Chiyoda", "東京", "100-0001"),
    lines=[OrderLine("SKU-1", 3, Decimal("33333333333.33"))],
)


def test_plain_items_are_encoded_as_boto3_serialises_them():
    item = {"PK": "USER#1", "SK": "PROFILE", "entity_type": "User", "Id": 1, "Ratio": Decimal(
        "0.1234567890123456789012345678901234567"), "Name": "ユーザー ✨", "Ok": True,
        "Nothing": None, "Tags": ["a", 1, {"x": Decimal("2.5")}], "Codes": {"b", "a"}}
    record = StreamEventBuilder().insert(item)
    expected = {name: TypeSerializer().serialize(value) for name, value in item.items()}
    got = record["dynamodb"]["NewImage"]
    assert sorted(got.pop("Codes")["SS"]) == sorted(expected.pop("Codes")["SS"])
    assert got == expected
    assert record["dynamodb"]["Keys"] == {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}


def test_sequence_numbers_increase_across_the_events_of_one_test(stream_events):
    first = stream_event(insert({"PK": "a", "SK": "b"}))
    second = stream_events.event([stream_events.insert({"PK": "a", "SK": "b"})])
    numbers = [int(r["dynamodb"]["SequenceNumber"])
               for r in first["Records"] + second["Records"]]
    assert numbers == [DEFAULT_SEQUENCE_START, DEFAULT_SEQUENCE_START + 1]
    assert current_builder() is stream_events


def test_an_attrs_object_is_encoded_through_its_projector():
    [record] = stream_event(insert(User(42, "yuuchan", 17, 170, 50)))["Records"]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["Keys"] == {"PK": {"S": "USER#42"}, "SK": {"S": "USER"}}
    assert record["dynamodb"]["NewImage"] == {
        "PK": {"S": "USER#42"}, "SK": {"S": "USER"}, "entity_type": {"S": "User"},
        "Id": {"N": "42"}, "Name": {"S": "yuuchan"}, "Age": {"N": "17"},
        "Height": {"N": "170"}, "Weight": {"N": "50"},
    }


def test_keys_and_other_attributes_are_given_by_keyword():
    old, new = User(1, "a", 17, 170, 50), User(1, "a", 18, 170, 50)
    [change] = stream_event(modify(old, new, SK="PROFILE", Extra="x"))["Records"]
    assert change["dynamodb"]["Keys"] == {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}
    assert change["dynamodb"]["OldImage"]["Age"] == {"N": "17"}
    assert change["dynamodb"]["NewImage"]["Age"] == {"N": "18"}
    assert change["dynamodb"]["NewImage"]["Extra"] == {"S": "x"}


def test_remove_carries_the_old_image_or_only_the_keys():
    user = User(1, "a", 17, 170, 50)
    whole, by_flag, by_keys, expired = stream_event(
        remove(user), remove(user, keys_only=True), remove({"PK": "USER#1", "SK": "USER"}),
        remove(user, ttl=True))["Records"]
    assert whole["dynamodb"]["OldImage"]["Name"] == {"S": "a"}
    assert "NewImage" not in whole["dynamodb"]
    for record in (by_flag, by_keys):
        assert "OldImage" not in record["dynamodb"]
        assert record["dynamodb"]["Keys"] == {"PK": {"S": "USER#1"}, "SK": {"S": "USER"}}
    assert expired["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"


def test_the_registry_names_the_entity_type_attribute():
    registry = ProjectorRegistry(type_attribute="_type")
    registry.register(UserProjector)
    builder = StreamEventBuilder(registry=registry)
    image = builder.insert(User(1, "a", 17, 170, 50))["dynamodb"]["NewImage"]
    assert image["_type"] == {"S": "User"}
    assert "entity_type" not in image


def test_a_model_shared_by_two_projectors_needs_the_projector_named():
    @attrs.frozen
    class Note:
        id: int

    class First(Projector[Note]):
        entity_type = "First"
        model = Note
        table = "notes"
        key = ("id",)

    class Second(First):
        entity_type = "Second"

    with pytest.raises(LookupError, match=r"several projectors \(.*First, .*Second\); say "
                       r"which: insert\(obj, projector=TheProjector\)"):
        stream_event(insert(Note(1)))
    [record] = stream_event(insert(Note(1), projector=Second))["Records"]
    assert record["dynamodb"]["NewImage"]["entity_type"] == {"S": "Second"}


def test_an_object_without_a_projector_is_refused_with_advice():
    @attrs.frozen
    class Stray:
        id: int

    with pytest.raises(LookupError, match=r"no projector has the model .*Stray: register one"):
        stream_event(insert(Stray(1)))


def test_nested_models_enums_times_and_empty_sets_round_trip():
    item = item_of(ORDER, OrderProjector)
    assert item["PK"] == "ORDER#A-1"
    assert "Tags" not in item  # DynamoDB has no empty sets: the default fills it back
    [record] = parse_event(stream_event(insert(ORDER))).records
    assert compile_projector(OrderProjector).structure(record.new_image()) == ORDER


@given(
    id=st.integers(-(2**63), 2**63 - 1),
    name=st.text(),
    numbers=st.tuples(*[st.integers(0, 10**6)] * 3),
)
def test_structure_of_the_encoded_item_is_the_object(id, name, numbers):
    user = User(id, name, *numbers)
    image = decode_image(StreamEventBuilder().insert(user)["dynamodb"]["NewImage"])
    assert compile_projector(UserProjector).structure(image) == user


@pytest.mark.mysql
def test_rows_hold_exact_values_json_decimals_included(projector_runner):
    result = projector_runner.apply(insert(ORDER), insert({"PK": "META", "SK": "x"}))

    assert (result.applied, result.skipped) == (1, {"no_entity_type": 1})
    [row] = projector_runner.rows("orders", with_sequence=True)
    assert row == {
        "order_id": "A-1", "customer_id": 7, "total": Decimal("99999999999.99"),
        "status": "PAID", "placed_at": datetime.datetime(2024, 7, 20, 3, 30, 23, 1),
        "shipping_address": {"city": "東京", "street": "1-1 Chiyoda", "zip": "100-0001"},
        "lines": [{"quantity": 3, "sku": "SKU-1", "unit_price": Decimal("33333333333.33")}],
        "note": None, "tags": [], "ddbproj_seq": DEFAULT_SEQUENCE_START,
    }
    assert isinstance(row["lines"][0]["unit_price"], Decimal)


@pytest.mark.mysql
def test_each_test_starts_from_empty_tables(projector_runner):
    assert projector_runner.rows("orders") == []
    assert projector_runner.dead_letters() == []
    projector_runner.apply(insert(ORDER))
    assert len(projector_runner.rows("orders")) == 1


@pytest.mark.mysql
def test_each_test_starts_from_empty_tables_again(projector_runner):
    test_each_test_starts_from_empty_tables(projector_runner)


@pytest.mark.mysql
def test_dead_letters_are_read_back_with_the_readable_error(projector_runner):
    bad = {"PK": "USER#42", "SK": "PROFILE", "entity_type": "User", "Id": 42,
           "Name": "x", "Age": "seventeen", "Height": 1, "Weight": 1}
    event = stream_event(insert(bad))
    projector_runner.apply(event)
    [letter] = projector_runner.dead_letters()
    assert letter["error"] == (
        f"User (PK=USER#42, SK=PROFILE, seq {DEFAULT_SEQUENCE_START}): "
        "attribute 'Age': expected a number, got S \"seventeen\""
    )
    assert letter["sequence_number"] == DEFAULT_SEQUENCE_START
    assert letter["raw_record"] == event["Records"][0]


@pytest.mark.mysql
@pytest.mark.projections("projections.users")
def test_the_projections_marker_chooses_the_projectors(projection_registry, projector_runner):
    assert [p.entity_type for p in projection_registry] == ["User"]
    result = projector_runner.apply(insert(User(1, "a", 17, 170, 50)),
                                    insert({"PK": "ORDER#1", "SK": "ORDER",
                                            "entity_type": "Order"}))
    assert result.skipped == {"unclaimed_type": 1}
    assert [row["id"] for row in projector_runner.rows("users")] == [1]


@pytest.mark.mysql
def test_the_tutorial_runs_as_written_in_a_project_of_its_own(tmp_path, mysql_server_url):
    """The code blocks of the README's tutorial, copied into an empty project, pass with
    nothing but the installed plugin."""
    docs = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    blocks = re.findall(r"```python\n# (\S+)\n(.*?)```", docs.read_text(), flags=re.S)
    files = dict(blocks)
    assert sorted(files) == ["projections/products.py", "tests/test_products.py"]
    (tmp_path / "projections").mkdir()
    (tmp_path / "projections" / "__init__.py").write_text("")
    (tmp_path / "tests").mkdir()
    for path, code in files.items():
        (tmp_path / path).write_text(code)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TEST_DATABASE_URL": mysql_server_url}
    env.pop("PROJECTIONS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


# --- server selection, the report line and what the plugin costs ---------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCAL_IMAGE = "ddbproj-test-mysql:latest"


def no_docker():
    raise AssertionError("Docker must not be asked when TEST_DATABASE_URL is set")


def test_an_explicit_test_database_url_wins_and_docker_is_not_asked():
    choice = choose_server({"TEST_DATABASE_URL": "mysql+pymysql://u:pw@db:3307/",
                            "DDBPROJ_TEST_MYSQL_IMAGE": "other:1"}, no_docker)
    assert choice == ServerChoice("url", url="mysql+pymysql://u:pw@db:3307/")


def test_docker_when_it_answers_with_the_image_from_the_environment_or_mysql_8():
    assert choose_server({}, lambda: True) == ServerChoice(
        "docker", image="mysql:8.0", docker_host="unix:///var/run/docker.sock")
    env = {"TEST_DATABASE_URL": "  ", "DDBPROJ_TEST_MYSQL_IMAGE": LOCAL_IMAGE,
           "DOCKER_HOST": "tcp://docker:2375"}
    assert choose_server(env, lambda: True) == ServerChoice(
        "docker", image=LOCAL_IMAGE, docker_host="tcp://docker:2375")


def test_the_local_server_when_docker_does_not_answer():
    choice = choose_server({"DDBPROJ_TEST_MYSQL_IMAGE": LOCAL_IMAGE}, lambda: False)
    assert choice == ServerChoice("local", url="mysql+pymysql://root@127.0.0.1:3306/")
    assert choice.describe() == "the local server mysql+pymysql://root@127.0.0.1:3306/"


def test_docker_does_not_answer_on_a_socket_that_is_not_there(tmp_path):
    assert not docker_answers({"DOCKER_HOST": f"unix://{tmp_path / 'docker.sock'}"})


def test_descriptions_and_fixture_values_hide_the_password():
    choice = ServerChoice("url", url="mysql+pymysql://app:s3cr%40t@db:3306/")
    assert choice.describe() == "TEST_DATABASE_URL mysql+pymysql://app:***@db:3306/"
    url = _Url(sa.make_url("mysql+pymysql://app:s3cr%40t@db:3306/x"))
    assert str(url) == "mysql+pymysql://app:s3cr%40t@db:3306/x"
    assert repr(url) == "'mysql+pymysql://app:***@db:3306/x'"
    assert sa.make_url(url).password == "s3cr@t"


def run_python(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=600)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in {"TEST_DATABASE_URL", "PROJECTIONS", "PYTEST_ADDOPTS"}}
    return {**env, **extra}


def test_importing_the_plugin_imports_no_database_docker_or_project_module():
    done = run_python("-c", "import sys, ddbproj.handlers.pytest_plugin; print(sorted("
                      "{'.'.join(m.split('.')[:2]) for m in sys.modules} & {'sqlalchemy', "
                      "'pymysql', 'docker', 'testcontainers', 'ddbproj.core', 'ddbproj.adapters', "
                      "'projections'}))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_command_line_names_the_choice_for_the_scripts(tmp_path):
    url = "mysql+pymysql://app:s3cret@db:3306/"
    done = run_python("-m", "ddbproj.handlers.pytest_plugin", "--which",
                      env=clean_env(TEST_DATABASE_URL=url))
    assert (done.returncode, done.stdout) == (0, "url TEST_DATABASE_URL mysql+pymysql://app:***@db:3306/\n")
    no_docker = clean_env(DOCKER_HOST=f"unix://{tmp_path / 'docker.sock'}")
    done = run_python("-m", "ddbproj.handlers.pytest_plugin", "--which", env=no_docker)
    assert done.stdout == "local the local server mysql+pymysql://root@127.0.0.1:3306/\n"
    docker = run_python("-m", "ddbproj.handlers.pytest_plugin", "--docker", env=no_docker)
    assert docker.returncode == 1


def test_the_script_follows_the_same_rule():
    done = subprocess.run(
        ["bash", "tests/ensure-mysql.sh"], cwd=ROOT, capture_output=True, text=True, check=False,
        env=clean_env(TEST_DATABASE_URL="mysql+pymysql://app:s3cret@db:3306/",
                      PYTHON=sys.executable))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "mysql: TEST_DATABASE_URL mysql+pymysql://app:***@db:3306/\n"


def project(tmp_path, test_code):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_it.py").write_text(test_code)
    return tmp_path


def run_pytest(cwd, env, *args):
    return run_python("-m", "pytest", "-p", "no:cacheprovider", *args, "tests", cwd=cwd, env=env)


def test_a_run_that_needs_no_server_asks_no_docker_and_imports_no_database(tmp_path):
    cwd = project(tmp_path, "import sys\n\n\ndef test_plain():\n    loaded = {'.'.join("
                  "m.split('.')[:2]) for m in sys.modules}\n    assert not loaded & {"
                  "'sqlalchemy', 'docker', 'testcontainers', 'ddbproj.core', 'ddbproj.adapters'}\n")
    done = run_pytest(cwd, clean_env(DOCKER_HOST="tcp://127.0.0.1:1"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "ddbproj MySQL" not in done.stdout


def test_a_refused_server_fails_with_advice_and_without_the_password(tmp_path):
    cwd = project(tmp_path, "import pytest\n\n\n@pytest.mark.mysql\ndef test_db(mysql_url):\n"
                  "    assert mysql_url\n")
    done = run_pytest(cwd, clean_env(TEST_DATABASE_URL="mysql+pymysql://app:s3cret-pw@127.0.0.1:1/"),
                      "--tb=long", "--showlocals")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "ddbproj MySQL: TEST_DATABASE_URL mysql+pymysql://app:***@127.0.0.1:1/" in output
    assert ("RuntimeError: no MySQL server for the integration tests at "
            "mysql+pymysql://app:***@127.0.0.1:1/ ((2003, ") in output
    assert "set TEST_DATABASE_URL to a server where this user may create databases, or start " \
           "Docker" in output
    assert "s3cret-pw" not in output
    assert "make mysql" not in output


CONTAINER_TEST = '''
import socket

import pytest
import sqlalchemy as sa
from testcontainers.core.labels import SESSION_ID

from ddbproj.core.events import insert
from projections.users import User


@pytest.mark.mysql
@pytest.mark.projections("projections.users")
def test_a_user_through_the_container(projector_runner, mysql_url):
    print(f"testcontainers-session={SESSION_ID};")
    projector_runner.apply(insert(User(1, "yuuchan", 17, 170, 50)))
    assert projector_runner.rows("users") == [
        {"id": 1, "name": "yuuchan", "age": 17, "height": 170, "weight": 50}]
    with sa.create_engine(mysql_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT @@hostname").scalar() != socket.gethostname()
        assert conn.exec_driver_sql("SELECT current_user()").scalar() == "root@%"
'''


@pytest.mark.mysql
def test_testcontainers_runs_a_projector_in_a_container_ryuk_or_not(tmp_path, request):
    """Through testcontainers as a user's project has it, with a Ryuk image that is nowhere:
    the plugin goes on without Ryuk, and the container is gone after the session. Skipped
    when Docker does not answer, unless DDBPROJ_TEST_REQUIRE_DOCKER is set (CI)."""
    import docker

    if not docker_answers(os.environ):
        if os.environ.get("DDBPROJ_TEST_REQUIRE_DOCKER"):
            pytest.fail("Docker does not answer and DDBPROJ_TEST_REQUIRE_DOCKER is set")
        pytest.skip("Docker does not answer")

    image = os.environ.get("DDBPROJ_TEST_MYSQL_IMAGE") or LOCAL_IMAGE
    client = docker.from_env()
    request.addfinalizer(client.close)
    if image == LOCAL_IMAGE:
        assert client.images.list(name=image), "build it: bash tests/docker/build-mysql-image.sh"
    # the project's test uses the repository's sample projectors, from the repository
    env = clean_env(DDBPROJ_TEST_MYSQL_IMAGE=image, RYUK_CONTAINER_IMAGE="ddbproj-no-ryuk:never",
                    PYTHONPATH=str(ROOT))
    env.pop("TESTCONTAINERS_RYUK_DISABLED", None)
    done = run_pytest(project(tmp_path, CONTAINER_TEST), env, "-s")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 passed" in done.stdout
    assert f"ddbproj MySQL: testcontainers MySQL, image {image}, Docker at " in done.stdout
    assert ("ddbproj MySQL: Ryuk (ddbproj-no-ryuk:never) could not start (APIError); the "
            "container is removed at the end of the session instead.") in done.stdout
    [session] = re.findall(r"testcontainers-session=(\S+);", done.stdout)
    label = f"org.testcontainers.session-id={session}"
    assert client.containers.list(all=True, filters={"label": label}) == []
