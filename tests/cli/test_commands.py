"""Contract over the commands: every `lightning_iter <verb>` lives in `commands/<verb>.py`, its library module has
the same stem, and `--help` exits 0 without building anything."""

import importlib
from pathlib import Path

import pytest

from lightning_iter.cli import COMMANDS, USAGE, VERBS, main

PACKAGE = Path(__file__).resolve().parents[2] / "lightning_iter"

# The library module behind each verb (same stem as commands/<verb>.py), or why there is none.
LIBRARY = {
    "generate": "generation/generate.py",
    "eval": "eval/__init__.py",  # the `lightning_iter.eval` package: primitives, NLL, report
    "analyze": "analysis/analyze.py",
    "tokenizer": "data/tokenizer.py",
    "prepare": "data/prepare.py",
    "export": "model/export.py",
    "lm_eval": "eval/lm_eval.py",
    "icl_sweep": "eval/icl_sweep.py",
    "sft_sweep": "eval/sft_sweep.py",
    "repeat_sweep": "eval/repeat_sweep.py",
}
NO_LIBRARY = {
    "fit": "LightningCLI over module.LanguageModel",
    "validate": "LightningCLI (commands.fit)",
    "strategies": "lists the depth registry",
    "bench": "runs a script of benchmarks/",
    "consolidate": "distributed_checkpoint.py (named for the checkpoint format it reads)",
    "report": "eval/paper_report.py (the stem report is eval/report.py, the one-run table writer it uses)",
}


def test_every_verb_has_its_command_module_and_library():
    assert set(VERBS) == set(COMMANDS) == set(LIBRARY) | set(NO_LIBRARY)
    for verb in VERBS:
        assert (PACKAGE / "commands" / f"{verb}.py").is_file(), verb
        assert callable(importlib.import_module(f"lightning_iter.commands.{verb}").main), verb
        assert f"\n  {verb} " in USAGE, f"`lightning_iter --help` does not list {verb}"
    for verb, library in LIBRARY.items():
        path = PACKAGE / library
        assert path.is_file(), f"{verb}: {library} is missing"
        stem = path.parent.name if path.stem == "__init__" else path.stem
        assert stem == verb, f"{verb}: library module {library} has another stem"


def test_no_stray_command_modules():
    modules = {p.stem for p in (PACKAGE / "commands").glob("*.py") if not p.stem.startswith("_")}
    assert modules == set(VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_help_exits_zero(verb, capsys):
    try:
        status = main([verb, "--help"])
    except SystemExit as exit_info:
        status = exit_info.code
    assert status in (0, None)
    assert capsys.readouterr().out.strip(), f"`lightning_iter {verb} --help` printed nothing"


def test_fit_keeps_sys_argv_and_silences_only_the_args_warning(monkeypatch):
    """Lightning's DDP launcher starts every other rank with `sys.argv`: it must reach LightningCLI whole."""
    import sys
    import warnings

    import lightning.pytorch.cli as lightning_cli

    from lightning_iter.commands.fit import run_lightning

    seen = {}

    class FakeCLI:
        def __init__(self, *args, **kwargs):
            seen["argv"], seen["args"] = list(sys.argv), kwargs["args"]
            warnings.warn(
                "LightningCLI's args parameter is intended to run from within Python ...", UserWarning, stacklevel=2
            )
            warnings.warn("another warning", UserWarning, stacklevel=2)

    command_line = ["lightning_iter", "fit", "--config", "x.yaml"]
    monkeypatch.setattr(sys, "argv", command_line)
    monkeypatch.setattr(lightning_cli, "LightningCLI", FakeCLI)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_lightning("fit", ["--config", "x.yaml"])
    assert seen == {"argv": command_line, "args": ["fit", "--config", "x.yaml"]}
    assert [str(w.message) for w in caught] == ["another warning"]


def test_the_removed_test_verb_names_what_to_use(capsys):
    """`test` had no test split to run on (issue 17 item 1): one line naming the command that gives held-out loss."""
    assert "test" not in VERBS and main(["test", "--config", "x.yaml"]) == 2
    assert "`test` is not a command: there is no test split" in capsys.readouterr().err
