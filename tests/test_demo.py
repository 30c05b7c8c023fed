"""``ddbproj demo`` end to end on embedded defaults (a small run), and on MySQL."""

import re
import sys

import pytest

from ddbproj.handlers.cli import main


def test_demo_on_embedded_defaults_ends_equivalent(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["demo", "--items", "300"]) == 0
    out = capsys.readouterr().out
    assert "verify demo: EQUIVALENT" in out
    rows = dict(re.findall(r"^rows in (\w+)\s+(\d+)$", out, flags=re.M))
    assert rows == {"orders": "88", "users": "176"}


@pytest.mark.mysql
def test_demo_into_mysql(projection_db, capsys):
    url = projection_db.engine.url.render_as_string(hide_password=False)
    assert main(["demo", "--items", "300", "--database-url", url]) == 0
    assert "verify demo: EQUIVALENT" in capsys.readouterr().out
    with projection_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM users").scalar_one() == 176


def test_demo_projects_the_samples_whatever_projections_says(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PROJECTIONS", "no_such_module")
    assert main(["demo", "--items", "100"]) == 0
    assert "verify demo: EQUIVALENT" in capsys.readouterr().out


def test_demo_outside_a_checkout_says_where_it_runs(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "projections.users", None)  # not importable
    assert main(["demo", "--items", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ddbproj demo: error: the demo needs the repository's sample "
                          "projectors")
    assert err.rstrip().endswith("run make demo in a checkout of ddbproj")
