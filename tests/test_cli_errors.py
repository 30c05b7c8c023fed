"""Every expected failure of a command is one line on stderr that says what to do, exit
status 2, never a traceback; an unexpected error is one line and exit 3; ``--debug``
shows the traceback. Each case runs the real command line in a subprocess with an
environment of its own (no AWS region, credentials or database unless the case sets them)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ddbproj.adapters.engine import DatabaseUrlError, parse_database_url
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers import cli
from ddbproj.handlers.commands import status as status_command
from ddbproj.handlers.settings import Settings, SettingsError

REPOSITORY = Path(__file__).resolve().parents[1]
NO_REGION = ("no AWS region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION, or a "
             "profile's region)")
NO_CREDENTIALS = ("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY, or run with a role")
PASSWORD = "p@ss/w#rd"
SPLIT_URL = f"mysql+pymysql://app:{PASSWORD}@db.example:3306/shop"


@pytest.fixture
def ddbproj(tmp_path):
    """Run ``python -m ddbproj.handlers.cli`` from the repository (the sample projectors
    import from there) with no AWS or database settings but those given."""
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")

    def run(*args, env=None, cwd=REPOSITORY):
        clean = {name: value for name, value in os.environ.items()
                 if not name.startswith(("AWS_", "DATABASE_"))
                 and name not in ("PROJECTIONS", "ENTITY_TYPE_ATTRIBUTE", "PYTHONPATH")}
        clean.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
                     AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(tmp_path))
        clean.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "ddbproj.handlers.cli", *map(str, args)],
            capture_output=True, text=True, env=clean, cwd=cwd, timeout=120, check=False)

    return run


def one_line(result, command):
    """The single stderr line of a failed command, checked to be an error of ``command``."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ddbproj {command}: error: "), lines[0]
    return lines[0].removeprefix(f"ddbproj {command}: error: ")


def sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'projection.db'}"


# -- database URLs --------------------------------------------------------------------

def test_a_url_that_is_not_a_url(ddbproj):
    result = ddbproj("status", env={"DATABASE_URL": "notaurl"})
    assert result.returncode == 2
    assert one_line(result, "status") == (
        "DATABASE_URL is not an SQLAlchemy URL: write dialect+driver://user:password@host:port/"
        "database, e.g. mysql+pymysql://app@db.example:3306/shop")


def test_a_port_that_is_not_a_number(ddbproj):
    result = ddbproj("status", env={"DATABASE_URL": "mysql+pymysql://root@host:notaport/db"})
    assert result.returncode == 2
    assert one_line(result, "status").startswith(
        "DATABASE_URL has a port that is not a number: write host:port with a numeric port")


def test_the_option_is_named_when_the_url_comes_from_it(ddbproj):
    result = ddbproj("dlq", "list", "--database-url", "notaurl")
    assert result.returncode == 2
    assert one_line(result, "dlq list").startswith("--database-url is not an SQLAlchemy URL")


@pytest.mark.parametrize(("url", "fix"), [
    ("mysql+mysqldb://app@db.example/shop",
     "DATABASE_URL uses the mysqldb driver (mysql+mysqldb://), which is not installed: "
     "pip install 'mysqlclient'; or write mysql+pymysql:// (PyMySQL comes with ddbproj)"),
    ("postgresql://app@db.example/shop",
     "DATABASE_URL uses the psycopg driver (postgresql://), which is not installed: "
     "pip install 'psycopg[binary]'"),
    ("postgresql+psycopg2://app@db.example/shop",
     "DATABASE_URL uses the psycopg2 driver (postgresql+psycopg2://), which is not "
     "installed: pip install 'psycopg2-binary'"),
    ("nosuchdb://app@db.example/shop",
     "DATABASE_URL names nosuchdb://, which SQLAlchemy does not know: use mysql+pymysql:// "
     "(MySQL, MariaDB, Aurora MySQL) or sqlite:///FILE"),
])
def test_a_driver_that_is_not_installed_names_the_package(ddbproj, url, fix):
    result = ddbproj("status", env={"DATABASE_URL": url})
    assert result.returncode == 2
    assert one_line(result, "status") == fix


def fragments(secret, size=3):
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


@pytest.mark.parametrize("argv", [
    ["status"], ["schema", "--check"], ["schema", "--apply"], ["dlq", "list"],
    ["verify", "--table", "app", "--region", "ap-northeast-1"],
])
def test_an_unencoded_at_sign_in_the_password_is_refused_without_showing_it(ddbproj, argv):
    result = ddbproj(*argv, env={"DATABASE_URL": SPLIT_URL})
    assert result.returncode == 2
    line = one_line(result, " ".join(argv[:2] if argv[0] == "dlq" else argv[:1]))
    assert "percent-encode the password" in line
    assert 'urllib.parse.quote(password, safe="")' in line
    shown = result.stdout + result.stderr
    assert not {part for part in fragments(PASSWORD) if part in shown}


def test_the_same_url_as_an_option_is_refused_too(ddbproj):
    result = ddbproj("schema", "--check", "--database-url", SPLIT_URL)
    assert result.returncode == 2
    assert one_line(result, "schema").startswith("--database-url has more than one '@'")
    assert not {part for part in fragments(PASSWORD) if part in result.stderr}


def test_the_lambda_settings_refuse_it_where_the_url_is_read():
    with pytest.raises(SettingsError) as error:
        Settings.from_environ({"DATABASE_URL": SPLIT_URL})
    assert str(error.value).startswith("DATABASE_URL has more than one '@' after 'user:'")
    assert not {part for part in fragments(PASSWORD) if part in str(error.value)}


@pytest.mark.parametrize("url", [
    "mysql+pymysql://app:p@ss@db.example/shop",
    "mysql+pymysql://app:a@b:c@db.example:3306/shop",
    "mysql+pymysql://app:p?s@s@db.example/shop",
    "mysql+pymysql://app@server:p@ss@db.example/shop",
])
def test_other_passwords_with_an_at_sign_are_refused(url):
    with pytest.raises(DatabaseUrlError, match="percent-encode the password"):
        parse_database_url(url)


@pytest.mark.parametrize(("url", "host", "database", "password"), [
    ("mysql+pymysql://app:p%40ss%2Fw%23rd@db.example:3306/shop", "db.example", "shop",
     PASSWORD),
    ("mysql+pymysql://app:pa/ss#x?y:z@db.example/shop", "db.example", "shop", "pa/ss#x?y:z"),
    ("mysql+pymysql://app@server:secret@db.example/shop", "db.example", "shop", "secret"),
    ("mysql+pymysql://app:secret@/shop?unix_socket=/run/my@sql.sock", None, "shop", "secret"),
    ("sqlite:////home/me@work/projection.db", None, "/home/me@work/projection.db", None),
    ("mysql+pymysql://app@db.example/shop%40eu", "db.example", "shop@eu", None),
])
def test_valid_urls_are_read_as_written(url, host, database, password):
    parsed = parse_database_url(url)
    assert (parsed.host, parsed.database, parsed.password) == (host, database, password)


# -- AWS region and credentials ---------------------------------------------------------

@pytest.mark.parametrize("command", ["backfill", "verify", "run", "status"])
def test_no_region_is_one_line_with_the_same_words_everywhere(ddbproj, tmp_path, command):
    result = ddbproj(command, "--table", "app", "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    assert one_line(result, command) == NO_REGION


def test_a_secret_without_a_region(ddbproj):
    arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-AbCdEf"
    result = ddbproj("status", env={"DATABASE_SECRET_ARN": arn})
    assert result.returncode == 2
    assert one_line(result, "status") == (
        f"cannot read DATABASE_SECRET_ARN {arn}: no AWS region: set AWS_REGION (or "
        "AWS_DEFAULT_REGION, or a profile's region)")


def test_a_secret_without_credentials(ddbproj):
    arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-AbCdEf"
    result = ddbproj("dlq", "list", env={"DATABASE_SECRET_ARN": arn,
                                         "AWS_REGION": "ap-northeast-1"})
    assert result.returncode == 2
    assert one_line(result, "dlq list") == (
        f"cannot read DATABASE_SECRET_ARN {arn}: {NO_CREDENTIALS}")


def test_iam_authentication_without_tls(ddbproj):
    result = ddbproj("status", env={"DATABASE_URL": "mysql+pymysql://app@db.example/shop",
                                    "DATABASE_IAM_AUTH": "1"})
    assert result.returncode == 2
    assert one_line(result, "status") == "DATABASE_IAM_AUTH=1 needs TLS: set DATABASE_SSL_CA"


def test_iam_authentication_without_credentials(ddbproj):
    result = ddbproj("status", env={"DATABASE_URL": "mysql+pymysql://app@127.0.0.1:1/shop",
                                    "DATABASE_IAM_AUTH": "1", "DATABASE_SSL_CA": "system",
                                    "AWS_REGION": "ap-northeast-1"})
    assert result.returncode == 2
    assert one_line(result, "status") == (
        f"cannot sign an IAM database token for app@127.0.0.1: {NO_CREDENTIALS}")


# -- databases that refuse --------------------------------------------------------------

def test_a_server_that_refuses_the_connection(ddbproj):
    result = ddbproj("status", env={"DATABASE_URL": "mysql+pymysql://root@127.0.0.1:1/x"})
    assert result.returncode == 2
    line = one_line(result, "status")
    assert line.startswith("cannot connect to the database: Can't connect to MySQL server")
    assert "Connection refused" in line
    assert line.endswith("check that the server is running and the URL's host, port, user, "
                         "password and database")


@pytest.mark.mysql
def test_an_unknown_database_on_a_running_server(ddbproj, mysql_url):
    url = sa.make_url(str(mysql_url)).set(database="ddbproj_no_such_database")
    result = ddbproj("dlq", "list", "--database-url",
                     url.render_as_string(hide_password=False))
    assert result.returncode == 2
    assert one_line(result, "dlq list").startswith(
        "cannot connect to the database: Unknown database 'ddbproj_no_such_database' "
        "(error 1049)")


def test_an_sqlite_file_in_a_missing_directory(ddbproj, tmp_path):
    result = ddbproj("status", "--database-url", f"sqlite:///{tmp_path / 'no' / 'x.db'}")
    assert result.returncode == 2
    assert one_line(result, "status") == (
        "cannot open the SQLite database: unable to open database file: check that the "
        "file's directory exists and is writable")


# -- projector definitions ----------------------------------------------------------------

UNSTRUCTURABLE = """\
from __future__ import annotations

import attrs

from ddbproj.core import Projector


@attrs.frozen
class Inner:
    values: list[int | str]


@attrs.frozen
class Thing:
    id: int
    inner: Inner


class ThingProjector(Projector[Thing]):
    entity_type = "Thing"
    model = Thing
    table = "things"
    key = ("id",)
"""


@pytest.mark.parametrize("argv", [
    ["projectors"], ["status"], ["schema"], ["schema", "--check"], ["schema", "--apply"],
    ["filter-criteria"], ["dlq", "list"], ["dlq", "replay"], ["replay", "EVENT"],
    ["verify", "--table", "app"], ["backfill", "--table", "app"], ["run", "--table", "app"],
])
def test_a_projector_cattrs_cannot_structure_is_one_line_in_every_command(
        ddbproj, tmp_path, argv):
    (tmp_path / "unstructurable.py").write_text(UNSTRUCTURABLE)
    event = tmp_path / "event.json"
    event.write_text('{"Records": []}')
    argv = [str(event) if part == "EVENT" else part for part in argv]
    database = ([] if argv[0] in ("projectors", "filter-criteria")
                else ["--database-url", sqlite(tmp_path)])
    result = ddbproj(*argv, *database, env={"PROJECTIONS": "unstructurable"})
    assert result.returncode == 2
    command = " ".join(argv[:2]) if argv[0] == "dlq" else argv[0]
    line = one_line(result, command)
    assert line.startswith("ThingProjector: Thing.inner.values: list[int | str] cannot be "
                           "structured"), line
    assert not (tmp_path / "projection.db").exists()


def test_projections_that_cannot_be_imported(ddbproj):
    result = ddbproj("projectors", env={"PROJECTIONS": "no_such_projections"})
    assert result.returncode == 2
    assert one_line(result, "projectors") == (
        "cannot import projections: No module named 'no_such_projections'")


# -- files --------------------------------------------------------------------------------

NOT_EVENTS = {
    "records not a list": ('{"Records": "nope"}', '"Records" is a string, not a list'),
    "a record not an object": ('{"Records": [USER, 1]}', "record 2 is a number, not an object"),
    "truncated": ('{"Records": [USER, {"eventName": "INS', "record 2 is not valid JSON: "),
    "cut after a record": ('{"Records": [USER', "the file ends after record 1"),
    "not JSON": ("Records: USER", "not JSON: Expecting value"),
    "empty": ("", "the file is empty"),
    "a list": ("[USER]", "the document is a list, not an object"),
    "no records": ('{"records": [USER]}', 'the object has no "Records"'),
}


def user_record(i=1):
    events = StreamEventBuilder()
    return events.insert({"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
                          "Name": "a", "Age": 1, "Height": 2, "Weight": 3})


@pytest.mark.parametrize("case", sorted(NOT_EVENTS))
def test_a_file_that_is_not_a_lambda_event_writes_nothing(ddbproj, tmp_path, case):
    text, reason = NOT_EVENTS[case]
    path = tmp_path / "event.json"
    path.write_text(text.replace("USER", json.dumps(user_record())), encoding="utf-8")
    result = ddbproj("replay", path, "--chunk", "1", "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    line = one_line(result, "replay")
    assert line.startswith(f"{path} is not a Lambda event: {reason}"), line
    assert line.endswith('expected a Lambda event {"Records": [...]} or an invocation record '
                         "of the on-failure destination")
    assert not (tmp_path / "projection.db").exists()


@pytest.mark.mysql
@pytest.mark.parametrize("case", ["a record not an object", "truncated"])
def test_a_broken_event_after_good_records_leaves_the_database_as_it_was(
        ddbproj, tmp_path, projection_db, case):
    text, _ = NOT_EVENTS[case]
    path = tmp_path / "event.json"
    path.write_text(text.replace("USER", json.dumps(user_record())), encoding="utf-8")
    url = projection_db.engine.url.render_as_string(hide_password=False)
    result = ddbproj("replay", path, "--chunk", "1", "--database-url", url)
    assert result.returncode == 2
    one_line(result, "replay")
    with projection_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM ddbproj_dead_letters").scalar() == 0


def test_a_byte_order_mark_is_accepted(ddbproj, tmp_path):
    path = tmp_path / "event.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"Records": [user_record(7)]}).encode())
    result = ddbproj("replay", path, "--database-url", sqlite(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "records=1 applied=1 skipped=0 dead_lettered=0 filtered=0\n"
    engine = sa.create_engine(sqlite(tmp_path))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM users").scalars().all() == [7]
    engine.dispose()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda tmp: tmp / "missing.json", "No such file or directory"),
    (lambda tmp: tmp, "Is a directory"),
])
def test_a_missing_file_or_a_directory(ddbproj, tmp_path, make, reason):
    path = make(tmp_path)
    result = ddbproj("replay", path, "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    assert one_line(result, "replay") == f"cannot read {path}: {reason}"
    assert not (tmp_path / "projection.db").exists()


def test_text_that_is_not_utf8(ddbproj, tmp_path):
    path = tmp_path / "event.json"
    path.write_bytes(b'{"Records": ["\xff"]}')
    result = ddbproj("replay", path, "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    assert one_line(result, "replay").startswith(f"{path} is not UTF-8 text")


def test_a_missing_filter_criteria_file(ddbproj, tmp_path):
    path = tmp_path / "event.json"
    path.write_text('{"Records": []}')
    result = ddbproj("replay", path, "--filter-criteria", tmp_path / "nope.json",
                     "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    assert one_line(result, "replay").startswith(f"cannot read {tmp_path / 'nope.json'}: ")


# -- options ------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["list", "replay"])
def test_dlq_table_points_to_sql_table(ddbproj, tmp_path, action):
    result = ddbproj("dlq", action, "--table", "users", "--database-url", sqlite(tmp_path))
    assert result.returncode == 2
    assert one_line(result, f"dlq {action}") == (
        "--table names a DynamoDB table in the other commands; the dead letters are "
        "filtered by the SQL table of their projector: use --sql-table users")


def test_usage_errors_keep_argparse_exit_2(ddbproj):
    result = ddbproj("verify")
    assert result.returncode == 2
    assert "the following arguments are required: --table" in result.stderr


# -- --debug and unexpected errors --------------------------------------------------------

@pytest.mark.parametrize("argv", [["--debug", "status"], ["status", "--debug"]])
def test_debug_prints_the_traceback_before_or_after_the_command(ddbproj, argv):
    result = ddbproj(*argv, env={"DATABASE_URL": "notaurl"})
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "DatabaseUrlError" in result.stderr


RAISING = """\
raise RuntimeError("the projections module is broken")
"""


def test_a_projector_module_that_raises_is_one_line_naming_it_and_its_line(ddbproj, tmp_path):
    (tmp_path / "raising.py").write_text(RAISING)
    result = ddbproj("projectors", env={"PROJECTIONS": "raising"})
    assert result.returncode == 2
    assert one_line(result, "projectors") == (
        "importing the projector module raising raised RuntimeError: the projections module is "
        f"broken (at {tmp_path / 'raising.py'}:1); fix that module")


def test_a_projector_module_that_raises_with_debug_is_the_traceback(ddbproj, tmp_path):
    (tmp_path / "raising.py").write_text(RAISING)
    result = ddbproj("projectors", "--debug", env={"PROJECTIONS": "raising"})
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "RuntimeError: the projections module is broken" in result.stderr


def test_an_unexpected_error_inside_a_command(monkeypatch, tmp_path, capsys):
    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(status_command, "every_backfill", broken)
    code = cli.main(["status", "--database-url", sqlite(tmp_path)])
    assert code == 3
    assert capsys.readouterr().err == (
        "ddbproj status: unexpected error: ZeroDivisionError: division by zero second line "
        "(run again with --debug for the traceback)\n")


def test_expected_failures_are_told_from_bugs():
    assert cli.expected_failure(ValueError("x")) is None
    assert cli.expected_failure(KeyError("x")) is None
    assert cli.expected_failure(FileNotFoundError(2, "No such file or directory", "f.json")) == (
        "cannot open f.json: No such file or directory")



def test_a_chunk_the_database_cannot_take_fails_with_exit_2(ddbproj, tmp_path):
    database = sqlite(tmp_path)
    assert ddbproj("schema", "--apply", "--database-url", database).returncode == 0
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN name")
    engine.dispose()
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Records": [user_record()]}))
    result = ddbproj("replay", path, "--database-url", database)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "ddbproj replay: error: chunk 1 failed and nothing of it was committed (0 chunks "
        "before it were): StatementFailed: OperationalError: table users has no column named "
        "name; replay the file again once the cause is fixed (records already applied are "
        "skipped)")
