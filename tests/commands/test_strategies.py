"""`lightning_iter strategies`: every strategy with its parameters, defaults and doc line, read without importing it;
the source-read description must equal what the imported classes say (`inspect`)."""

from __future__ import annotations

import inspect
import sys
import textwrap

from lightning_iter.cli import main
from lightning_iter.commands._catalog import catalog, entry_point_group


def _real(name):
    from lightning_iter.depth import strategy_class

    cls = strategy_class(name)
    params = [
        (p.name, None if p.default is p.empty else repr(p.default))
        for p in inspect.signature(cls.__init__).parameters.values()
    ][1:]
    return cls, params


def test_the_source_read_catalog_matches_the_imported_classes():
    from lightning_iter.depth import ENTRY_POINT_GROUP, list_strategies

    infos = catalog()
    assert [i.name for i in infos] == list_strategies()
    assert entry_point_group() == ENTRY_POINT_GROUP
    for info in infos:
        cls, params = _real(info.name)
        assert info.target == f"{cls.__module__}:{cls.__qualname__}"
        assert [(p.name, p.default) for p in info.parameters] == params, info.name
        assert info.doc == inspect.getdoc(cls).split("\n")[0]


def test_listing_shows_parameters_defaults_and_doc(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "midas: Copy the middle block" in out
    assert "      alpha: float = 1.0" in out and "      block_size: int (required)" in out
    assert "      encode: int = 0" in out  # loop
    assert "baseline: A standard model" in out and "retrofit" in out


def test_json_listing(capsys):
    import json

    assert main(["strategies", "--json", "true"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["loop"]["parameters"][0] == {"name": "layers", "type": "int", "default": None}


def test_an_installed_plugin_is_listed_with_inherited_parameters(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_listed_mod.py").write_text(
        textwrap.dedent(
            '''
            from lightning_iter.depth import GrowOperator

            class Plugin(GrowOperator):
                """Copy the last block and append it."""
                def select(self, depth):
                    return list(range(depth - self.block_size, depth)), depth
            '''
        )
    )
    info = tmp_path / "my_listed-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my_listed\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{entry_point_group()}]\ntail-listed = my_listed_mod:Plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["strategies"]) == 0
        out = capsys.readouterr().out
        assert "tail-listed: Copy the last block and append it." in out
        assert "    class: my_listed_mod:Plugin" in out
        assert "my_listed_mod" not in sys.modules  # described from its source, not imported
        block = out.split("tail-listed:")[1]
        assert "      horizon: int (required)" in block  # GrowOperator's parameters, inherited
    finally:
        sys.modules.pop("my_listed_mod", None)
