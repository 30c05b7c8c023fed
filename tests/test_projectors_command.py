"""``ddbproj projectors``: what is registered, from where, table and key."""

from ddbproj.handlers.cli import main


def test_lists_each_projector_with_its_origin_table_and_key(capsys, monkeypatch):
    monkeypatch.delenv("PROJECTIONS", raising=False)
    assert main(["projectors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "items are routed by their 'entity_type' attribute"
    assert lines[2].split() == ["entity", "type", "projector", "table", "key", "from"]
    assert lines[3].split() == ["Order", "projections.orders.OrderProjector", "orders",
                                "order_id", "PROJECTIONS:", "projections.orders"]
    assert lines[4].split() == ["User", "projections.users.UserProjector", "users", "id",
                                "PROJECTIONS:", "projections.users"]
    assert len(lines) == 5


def test_a_projector_from_an_entry_point_says_which(capsys, monkeypatch, tmp_path):
    package = tmp_path / "lib_widgets"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import attrs\nfrom core import Projector\n\n@attrs.frozen\nclass W:\n    code: str\n\n"
        "class WidgetProjector(Projector[W]):\n    entity_type = 'Widget'\n    model = W\n"
        "    table = 'widgets'\n    key = ('code',)\n")
    info = tmp_path / "lib_widgets-3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lib-widgets\nVersion: 3.0\n")
    (info / "entry_points.txt").write_text("[ddbproj.projections]\nwidgets = lib_widgets\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["projectors", "--projections", "projections.users"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[3:]] == ["User", "Widget"]
    assert lines[4].split()[1:] == ["lib_widgets.WidgetProjector", "widgets", "code", "entry",
                                    "point", "widgets", "(lib-widgets", "3.0):", "lib_widgets"]


def test_a_module_that_cannot_be_imported_is_one_line_and_exit_2(capsys):
    assert main(["projectors", "--projections", "no_such_projections"]) == 2
    assert capsys.readouterr().err == (
        "ddbproj projectors: error: cannot import projections: "
        "No module named 'no_such_projections'\n")


def test_a_registration_conflict_is_reported_without_a_traceback(capsys, tmp_path, monkeypatch):
    (tmp_path / "clash_projections.py").write_text(
        "import attrs\nfrom core import Projector\n\n@attrs.frozen\nclass U:\n    id: int\n\n"
        "class Other(Projector[U]):\n    entity_type = 'User'\n    model = U\n"
        "    table = 'others'\n    key = ('id',)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["projectors", "--projections", "projections.users,clash_projections"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ddbproj projectors: error: entity type 'User' is claimed by both "
                          "projections.users.UserProjector and clash_projections.Other")
    assert "Traceback" not in err
