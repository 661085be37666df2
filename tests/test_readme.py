"""The README's commands and its "Write your own depth strategy" snippets are true."""

import re
import sys
from pathlib import Path

import tomllib

from lightning_iter.depth import get_strategy, list_strategies, registry

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def snippet(name: str) -> str:
    match = re.search(rf"<!-- readme-example: {name} -->\n```\w+\n(.*?)```", README, re.S)
    assert match, f"README example {name!r} not found"
    return match.group(1)


def test_readme_keeps_the_quickstart_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "lightning_iter fit --config configs/quickstart.yaml" in README
    test_command = re.search(r"## Tests\n\n```bash\n(.*?)\n```", README, re.S).group(1)
    assert "pytest" in test_command and test_command in ci


def test_strategy_example_by_decorator_and_use():
    namespace: dict = {}
    try:
        exec(compile(snippet("strategy"), "README:strategy", "exec"), namespace)
        exec(compile(snippet("usage"), "README:usage", "exec"), namespace)
        assert "front-grow" in list_strategies()
    finally:
        registry._REGISTRY.pop("front-grow", None)


def test_strategy_example_by_entry_point(tmp_path, monkeypatch):
    """Install the README's class as module `my_strategies` with the README's entry-point table."""
    table = tomllib.loads(snippet("entry-point"))["project"]["entry-points"]["lightning_iter.strategies"]
    (tmp_path / "my_strategies.py").write_text(snippet("strategy").replace('@register_strategy("front-grow")\n', ""))
    info = tmp_path / "my_strategies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-strategies\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in table.items())
    (info / "entry_points.txt").write_text(f"[lightning_iter.strategies]\n{lines}")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        grow = get_strategy("front-grow", block_size=2, horizon=10, target_depth=6)
        assert type(grow).__module__ == "my_strategies"
        assert grow.select(4) == ([0, 1], 0)
    finally:
        registry._REGISTRY.pop("front-grow", None)
        sys.modules.pop("my_strategies", None)
