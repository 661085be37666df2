"""`--help` is fast (issue 17 item 1): the non-training commands' `--help` imports neither torch nor lightning, and no
`commands/*.py` imports torch, lightning, litdata, numpy or matplotlib when it is imported (only inside `main()`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_iter.cli import VERBS

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("fit", "validate")  # LightningCLI's own --help needs lightning
HEAVY = ("torch", "lightning", "litdata", "numpy", "matplotlib")

HELP_PROBE = """
import contextlib, io, json, sys
from lightning_iter.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        status = main({argv!r})
    except SystemExit as stop:
        status = stop.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"status": status, "heavy": heavy, "printed": len(out.getvalue())}}))
"""


def probe(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("verb", [v for v in VERBS if v not in TRAINING])
def test_help_of_a_non_training_command_imports_neither_torch_nor_lightning(verb):
    seen = probe(HELP_PROBE.format(argv=[verb, "--help"], heavy=HEAVY))
    assert seen["status"] in (0, None) and seen["printed"] > 0
    assert "torch" not in seen["heavy"] and "lightning" not in seen["heavy"], f"{verb} --help imports {seen['heavy']}"


def test_strategies_listing_imports_no_torch():
    seen = probe(HELP_PROBE.format(argv=["strategies"], heavy=HEAVY))
    assert seen["status"] == 0 and seen["printed"] > 0
    assert seen["heavy"] == [], f"`lightning_iter strategies` imports {seen['heavy']}"


def test_no_command_module_imports_a_heavy_library_at_import_time():
    modules = sorted(p.stem for p in (ROOT / "lightning_iter" / "commands").glob("*.py"))
    code = (
        "import importlib, json, sys\n"
        "found = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(f'lightning_iter.commands.{name}')\n"
        f"    found[name] = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps(found))\n"
    )
    found = probe(code)
    first = next((name for name in modules if found[name]), None)
    assert first is None, f"importing lightning_iter.commands.{first} imports {found[first]}"
