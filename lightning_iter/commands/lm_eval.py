"""`lightning_iter lm_eval ...`: lm-eval's command line with the `lightning_iter` model type and primitive tasks.

    lightning_iter lm_eval --model lightning_iter --model_args ckpt_path=last.ckpt,repeat=2:4x1 \
        --tasks reasoning_primitives --limit 100

Arguments are lm-eval's own (`lm_eval run --help`); the package's task folder is added as `--include_path`
unless one is given. lm-eval 0.4 looks models up in a registry without plugin entry points, so plain
`lm_eval --model lightning_iter` cannot see the model unless `lightning_iter.eval.lm_eval` is imported.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError

SUBCOMMANDS = ("run", "ls", "validate")


def harness_argv(argv: list[str], tasks_dir: str) -> list[str]:
    """lm-eval's argv (program name first) with our task folder as `--include_path` when none is given."""
    args = list(argv)
    if args and args[0] not in SUBCOMMANDS and not args[0].startswith("-"):
        return ["lm-eval", *args]
    if args and args[0] in ("-h", "--help"):
        return ["lm-eval", *args]
    if not any(a == "--include_path" or a.startswith("--include_path=") for a in args):
        args += ["--include_path", tasks_dir]
    if not args or args[0] not in SUBCOMMANDS:
        args = ["run", *args]
    return ["lm-eval", *args]


def main(argv: list[str]) -> None:
    try:
        from lm_eval.__main__ import cli_evaluate

        from ..eval.lm_eval import LM_EVAL_TASKS_DIR
    except ImportError as err:
        raise ConfigError(f"lm-eval is not installed ({err}): pip install 'lightning-iter[eval]'") from None
    from ..eval.suite import check_harness_argv

    check_harness_argv(argv)  # the suite's missing datasets, all in one line, before any model is built
    saved = sys.argv
    sys.argv = harness_argv(argv, str(LM_EVAL_TASKS_DIR))
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
