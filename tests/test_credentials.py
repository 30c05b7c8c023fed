"""Credentials: a Secrets Manager secret (moto) used against the real MySQL server, cached
with a TTL and fetched again on rotation; IAM tokens renewed before expiry; TLS settings;
and no password in any log line, repr or error message."""

import json
import logging
import ssl
import subprocess
import sys
import traceback
import uuid
from pathlib import Path

import boto3
import botocore
import pytest
import sqlalchemy as sa
from moto import mock_aws

from ddbproj.adapters.credentials import (
    CredentialsError,
    DatabaseConfig,
    IamTokenSource,
    SecretSource,
    make_database_engine,
    ssl_context,
)
from ddbproj.handlers.settings import Settings, SettingsError

REGION = "ap-northeast-1"
PASSWORD = "pw-S3cr3t!'\"x"  # a test password, checked never to leak
ROTATED = "pw-R0tated#2"


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def everything_said(error):
    """The text a traceback of ``error`` would print, its chain included."""
    return "".join(traceback.format_exception(error)) + repr(error)


def test_secret_is_fetched_once_and_again_after_its_ttl(aws):
    arn = aws.create_secret(Name="db", SecretString=json.dumps(
        {"username": "app", "password": PASSWORD, "host": "db.example", "port": 3306,
         "dbname": "app", "engine": "mysql"}))["ARN"]
    clock = FakeClock()
    source = SecretSource(arn, ttl=300, region=REGION, clock=clock)
    assert source.password() == PASSWORD
    clock.now += 299
    value = source.value()
    assert (value.username, value.host, value.port, value.dbname) == (
        "app", "db.example", 3306, "app")
    assert source.fetches == 1
    clock.now += 1
    source.password()
    assert source.fetches == 2
    assert PASSWORD not in repr(value)
    assert PASSWORD not in repr(source)


@pytest.mark.parametrize(("secret", "message"), [
    ("not json " + PASSWORD, "is not a JSON object"),
    (json.dumps([PASSWORD]), "is not a JSON object"),
    (json.dumps({"password": PASSWORD}), "has no 'username' string"),
    (json.dumps({"username": "app"}), "has no 'password' string"),
    (json.dumps({"username": "app", "password": PASSWORD, "port": PASSWORD}),
     "has a 'port' that is not a number"),
])
def test_bad_secrets_are_named_without_their_content(aws, secret, message):
    arn = aws.create_secret(Name="bad", SecretString=secret)["ARN"]
    with pytest.raises(CredentialsError) as error:
        SecretSource(arn, region=REGION).value()
    assert str(error.value) == f"secret {arn} {message}"
    assert PASSWORD not in everything_said(error.value)


def test_a_missing_secret_names_the_variable(aws):
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-AbCdEf"
    with pytest.raises(CredentialsError, match=r"^cannot read DATABASE_SECRET_ARN arn:aws:"):
        SecretSource(arn, region=REGION).value()


def test_iam_tokens_are_signed_locally_and_renewed_before_they_expire(aws):
    clock = FakeClock()
    source = IamTokenSource(host="proxy.example", port=3306, user="app", region=REGION,
                            clock=clock)
    token = source.password()
    assert token.startswith("proxy.example:3306/?")
    assert "Action=connect" in token
    assert "DBUser=app" in token
    assert "X-Amz-Expires=900" in token
    clock.now += 599
    assert source.password() == token
    assert source.issued == 1
    clock.now += 1
    source.password()
    assert source.issued == 2
    assert token not in repr(source)


def test_iam_auth_without_tls_is_refused():
    with pytest.raises(CredentialsError, match=r"^DATABASE_IAM_AUTH=1 needs TLS"):
        make_database_engine(DatabaseConfig(host="h", user="u", iam_auth=True))


def test_iam_engine_url_holds_no_password(aws):
    engine = make_database_engine(DatabaseConfig(
        host="proxy.example", port=3306, user="app", name="app", iam_auth=True,
        ssl_ca="system", region=REGION))
    assert engine.url.render_as_string(hide_password=False) == (
        "mysql+pymysql://app@proxy.example:3306/app?charset=utf8mb4")


@pytest.mark.parametrize("ca", ["system", "bundle"])
def test_tls_verifies_the_certificate_and_the_host_name(ca):
    path = str(Path(botocore.__file__).parent / "cacert.pem") if ca == "bundle" else ca
    context = ssl_context(path)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 0


def test_ssl_ca_must_be_a_file():
    with pytest.raises(CredentialsError, match=r"^DATABASE_SSL_CA '/nowhere.pem' is not a file"):
        make_database_engine(DatabaseConfig(url="mysql://u@h/db", ssl_ca="/nowhere.pem"))


def test_settings_read_every_credentials_variable():
    settings = Settings.from_environ({
        "DATABASE_SECRET_ARN": "arn:s", "DATABASE_HOST": "proxy", "DATABASE_PORT": "3307",
        "DATABASE_NAME": "app", "DATABASE_USER": "lambda", "DATABASE_IAM_AUTH": "1",
        "DATABASE_SSL_CA": "system", "DATABASE_SECRET_TTL": "60",
    })
    assert settings.database_config(region=REGION) == DatabaseConfig(
        secret_arn="arn:s", host="proxy", port=3307, name="app", user="lambda", iam_auth=True,
        ssl_ca="system", secret_ttl=60.0, region=REGION)


@pytest.mark.parametrize(("environ", "message"), [
    ({"DATABASE_IAM_AUTH": "maybe"}, "DATABASE_IAM_AUTH must be 1 or 0, not 'maybe'"),
    ({"DATABASE_PORT": "x"}, "DATABASE_PORT must be a number, not 'x'"),
    ({"DATABASE_SECRET_TTL": "-1"}, "DATABASE_SECRET_TTL must be positive, not '-1'"),
])
def test_wrong_settings_name_the_variable(environ, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(environ)
    assert str(error.value) == message


def test_boto3_is_not_imported_when_a_url_is_enough():
    code = (
        "import sys\n"
        "from handlers.runtime import build_engine\n"
        "from handlers.settings import Settings\n"
        "build_engine(Settings.from_environ({'DATABASE_URL': 'sqlite://', "
        "'DATABASE_SSL_CA': 'system'}))\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False False"


# --- against the real server ----------------------------------------------------------------

@pytest.fixture
def db_user(mysql_server_url, mysql_url):
    """A user with PASSWORD on the test server, dropped afterwards."""
    name = f"cred_{uuid.uuid4().hex[:8]}"
    database = sa.make_url(mysql_url).database
    admin = sa.create_engine(mysql_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.* TO '{name}'@'%%'")
    yield name, database, admin
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
    admin.dispose()


def secret_for(aws, user, database, password, server_url):
    server = sa.make_url(server_url)
    return json.dumps({"username": user, "password": password, "engine": "mysql",
                       "host": server.host, "port": server.port or 3306, "dbname": database})


@pytest.mark.mysql
def test_secret_connects_and_survives_a_rotation(aws, db_user, mysql_server_url, caplog):
    caplog.set_level(logging.DEBUG)
    user, database, admin = db_user
    arn = aws.create_secret(Name="app-db", SecretString=secret_for(
        aws, user, database, PASSWORD, mysql_server_url))["ARN"]
    engine = make_database_engine(DatabaseConfig(secret_arn=arn, region=REGION))
    assert PASSWORD not in engine.url.render_as_string(hide_password=False)
    assert PASSWORD not in repr(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one().startswith(user + "@")
    # rotation: the server and the secret change; the cached value is refused once, then
    # fetched again without waiting for the TTL
    with admin.begin() as conn:
        conn.exec_driver_sql(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (ROTATED,))
    aws.put_secret_value(SecretId=arn, SecretString=secret_for(
        aws, user, database, ROTATED, mysql_server_url))
    caplog.clear()  # the put above is the test's own request; what follows is ddbproj's
    engine.dispose()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    assert "database refused the cached credentials" in caplog.text
    for secret in (PASSWORD, ROTATED):
        assert secret not in caplog.text
    engine.dispose()


@pytest.mark.mysql
def test_a_wrong_password_fails_without_saying_it(aws, db_user, mysql_server_url, caplog):
    caplog.set_level(logging.DEBUG)
    user, database, _admin = db_user
    wrong = "pw-Wr0ng-" + uuid.uuid4().hex
    arn = aws.create_secret(Name="wrong", SecretString=secret_for(
        aws, user, database, wrong, mysql_server_url))["ARN"]
    engine = make_database_engine(DatabaseConfig(secret_arn=arn, region=REGION))
    with pytest.raises(sa.exc.OperationalError) as error:
        engine.connect()
    assert "Access denied" in str(error.value)
    assert wrong not in everything_said(error.value)
    assert wrong not in caplog.text
    engine.dispose()


@pytest.mark.mysql
def test_iam_auth_requires_tls_from_the_server(aws, db_user, mysql_server_url, caplog):
    """A server that offers no TLS is refused rather than sent a token in clear text."""
    caplog.set_level(logging.DEBUG)
    user, database, _admin = db_user
    server = sa.make_url(mysql_server_url)
    engine = make_database_engine(DatabaseConfig(
        host=server.host, port=server.port or 3306, user=user, name=database, iam_auth=True,
        ssl_ca="system", region=REGION))
    with pytest.raises(sa.exc.OperationalError) as error:
        engine.connect()
    said = everything_said(error.value)
    assert "SSL is required" in said or "CERTIFICATE_VERIFY_FAILED" in said
    assert "X-Amz-Signature" not in said
    assert "X-Amz-Signature" not in caplog.text
    engine.dispose()
