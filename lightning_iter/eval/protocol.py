"""The evaluation's fixed sizes, without torch (the commands' `--help` reads them): test-set size and namespace."""

TEST_NAMESPACE = "primitives-test"
DEFAULT_ITEMS = 1000
"""Test items per task and depth: `--n_items` of eval, icl_sweep, sft_sweep and repeat_sweep, and the lm-eval
tasks' `n_items` (the seeds fix no count; one default everywhere, docs/cli.md)."""
