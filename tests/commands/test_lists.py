"""One list syntax (docs/cli.md): every list flag takes `a,b`; `[a, b]` reads the same; one `--n_items` default."""

from __future__ import annotations

import pytest

from lightning_iter.commands import analyze, icl_sweep, repeat_sweep, sft_sweep
from lightning_iter.commands import eval as eval_command
from lightning_iter.commands._common import int_list, join_items, parse_list, split_list
from lightning_iter.errors import ConfigError
from lightning_iter.eval.protocol import DEFAULT_ITEMS


@pytest.mark.parametrize("text", ["a,b", "a, b", "[a, b]", "['a', 'b']", '["a","b"]', "a,b,"])
def test_every_spelling_of_a_list_gives_the_same_items(text):
    assert split_list(text) == ["a", "b"]


def test_parse_list_keeps_all_and_none_and_names_the_flag():
    assert parse_list("all", "tasks") is None and parse_list("none", "tasks") == []
    assert parse_list("[0, 2]", "depths", int) == [0, 2]
    with pytest.raises(ConfigError, match=r"--depths='1,x' is not allowed: give a comma-separated list of int"):
        parse_list("1,x", "depths", int)
    with pytest.raises(ValueError, match="not a comma-separated list of integers"):
        int_list("1;2")


def test_space_separated_flags_also_split_commas():
    assert join_items(["a.ckpt,b.ckpt", "c.ckpt"]) == ["a.ckpt", "b.ckpt", "c.ckpt"] and join_items(None) is None


def test_comma_lists_parse_in_the_commands_that_used_brackets():
    base = ["--ckpt_path", "x.ckpt"]
    sweep = repeat_sweep.build_parser().parse_args(
        [*base, "--block", "0:2", "--depths", "0,1", "--tasks", "copy_random"]
    )
    assert sweep.depths == [0, 1] and sweep.tasks == ["copy_random"] and sweep.metrics == ["nll", "primitives"]
    old = repeat_sweep.build_parser().parse_args([*base, "--block", "0:2", "--depths", "[0, 1]", "--metrics", "[nll]"])
    assert old.depths == [0, 1] and old.metrics == ["nll"]
    cfg = analyze.build_parser().parse_args(
        [*base, "--out", "o", "--sizes", "1,2", "--operations", "skip,swap", "--boundaries", "8,16"]
    )
    assert cfg.sizes == [1, 2] and cfg.operations == ["skip", "swap"] and cfg.boundaries == [8, 16]
    assert analyze.build_parser().parse_args(
        [*base, "--out", "o", "--depth_score_sets", "gsm8k,math"]
    ).depth_score_sets == [
        "gsm8k",
        "math",
    ]
    with pytest.raises(SystemExit):
        analyze.build_parser().parse_args([*base, "--out", "o", "--sizes", "1,two"])


def test_one_n_items_default_for_the_primitive_evaluations():
    base = ["--ckpt_path", "x.ckpt"]
    defaults = {
        "eval": eval_command.build_parser().parse_args(base).n_items,
        "icl_sweep": icl_sweep.build_parser().parse_args(base).n_items,
        "sft_sweep": sft_sweep.build_parser().parse_args(base).n_items,
        "repeat_sweep": repeat_sweep.build_parser().parse_args([*base, "--block", "0:2"]).n_items,
    }
    assert defaults == dict.fromkeys(defaults, DEFAULT_ITEMS) and DEFAULT_ITEMS == 1000
