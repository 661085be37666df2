"""The papers' training recipe as tested invariants of every shipped paper config and documented combination.

Each config is parsed by the real `lightning_iter fit` parser (`--print_config`, nested files resolved), never read
as YAML text. Numbers: seed 004 App. A (Table 2, "Training", "Training with the Growing operator"); seed 000 App. F.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
import yaml

from lightning_iter.cli import main
from lightning_iter.depth import get_strategy
from lightning_iter.depth.schedule import prop_alpha
from lightning_iter.lr_schedule import wsd_factor
from lightning_iter.model import ModelConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
FRAGMENTS = "recipes"  # group files the run configs nest (`trainer: recipes/...`); not configs on their own

PAPER = sorted(p for p in (CONFIGS / "paper").rglob("*.yaml") if FRAGMENTS not in p.relative_to(CONFIGS).parts)
# data overlays the README and docs/data.md combine with any paper config (`--config <paper> --config <overlay>`)
OVERLAYS = sorted(
    (CONFIGS / "data" / name) for name in ("smollm-v1.yaml", "cooldown-nmt20.yaml", "cooldown-fmt20.yaml")
)
OVERLAYS += sorted((CONFIGS / "data").glob("math-cooldown-*.yaml"))
OVERLAY_BASES = [CONFIGS / "paper" / "smollm-360m-lidas.yaml", CONFIGS / "paper" / "smollm-1.7b-lidas.yaml"]
COMBINATIONS = [(p,) for p in PAPER] + [(base, overlay) for base in OVERLAY_BASES for overlay in OVERLAYS]

TOKENS_PER_STEP = {"smollm-360m": 2**20, "smollm-1.7b": 2**21}  # batch size 1M / 2M tokens
PEAK_LR = {"smollm-360m": 3e-3, "smollm-1.7b": 5e-4}
STEPS, WARMUP, DECAY, HORIZON = 200_000, 2_000, 30_000, 170_000
SMOLLM_V1 = {"fineweb_edu": 0.70, "cosmopedia_v2": 0.15, "python_edu": 0.09, "open_web_math": 0.06}
COSMO2_VOCAB = 49_152


def _id(paths: tuple[Path, ...]) -> str:
    return " + ".join(str(p.relative_to(CONFIGS)) for p in paths)


@cache
def parsed(paths: tuple[Path, ...]) -> dict:
    """The full config `lightning_iter fit --config A [--config B]` resolves to."""
    argv = ["fit"]
    for path in paths:
        argv += ["--config", str(path)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*argv, "--print_config"])
    assert exit_info.value.code in (0, None), f"{_id(paths)} does not parse"
    return yaml.safe_load(out.getvalue())


# the seeds' runs: seed 004 Tables 1/8 (baseline, MIDAS, LIDAS, LN-Scaling [+ growth]), seed 000 Table 3 (loops and
# iso-param standards) and Table 2 (retrofit rows)
RUNS = {
    *(
        f"smollm-{s}-{m}"
        for s in ("360m", "1.7b")
        for m in ("baseline", "midas", "lidas", "ln-scaling", "ln-scaling-lidas")
    ),
    "smollm-360m-ln-scaling-midas",
    *(f"smollm-1.7b-{m}-retrofit{b}" for m in ("baseline", "lidas") for b in ("", "-12-15")),
    *(
        f"loops/smollm-360m-{m}"
        for m in ("loop-4x8", "loop-8x4", "loop-16x2", "standard-4", "standard-8", "standard-16")
    ),
    *(f"loops/smollm-1.7b-{m}" for m in ("loop-4x6", "loop-12x2", "loop-4-4x4-4", "standard-4", "standard-12")),
    "loops/smollm-1.7b-loop-4-4x4-4-retrofit",
}


def test_every_paper_run_is_covered():
    assert {str(p.relative_to(CONFIGS / "paper").with_suffix("")) for p in PAPER} == RUNS
    assert [p.name for p in OVERLAYS] == [
        "cooldown-fmt20.yaml",
        "cooldown-nmt20.yaml",
        "smollm-v1.yaml",
        "math-cooldown-owm.yaml",
    ]


def test_every_recipe_fragment_is_nested_by_a_parsed_config():
    """Fragments are not configs on their own; each is parsed as part of a config that nests it."""
    texts = [p.read_text() for p in [*PAPER, *OVERLAYS]]
    for fragment in sorted((CONFIGS / "paper" / FRAGMENTS).glob("*.yaml")):
        assert any(f"{FRAGMENTS}/{fragment.name}" in text for text in texts), f"{fragment} is nested by no config"


@pytest.mark.parametrize("paths", COMBINATIONS, ids=_id)
def test_tokens_per_step_and_sequence_length(paths):
    config = parsed(paths)
    trainer, data = config["trainer"], config["data"]["init_args"]
    seq_len = data["seq_len"]
    tokens = data["batch_size"] * trainer["devices"] * trainer["num_nodes"] * trainer["accumulate_grad_batches"]
    tokens *= seq_len
    arch = config["model"]["arch"]
    assert seq_len == 2048
    assert tokens == TOKENS_PER_STEP[arch], (
        f"{_id(paths)}: {data['batch_size']} x {trainer['devices']} x {trainer['num_nodes']} x "
        f"{trainer['accumulate_grad_batches']} x {seq_len} = {tokens:,} tokens per step, "
        f"the papers use {TOKENS_PER_STEP[arch]:,}"
    )


@pytest.mark.parametrize("paths", COMBINATIONS, ids=_id)
def test_schedule_optimizer_and_clipping(paths):
    config = parsed(paths)
    trainer, model = config["trainer"], config["model"]
    assert trainer["max_steps"] == STEPS and model["total_steps"] is None
    assert model["warmup_steps"] == WARMUP
    decay = int(round(model["decay_fraction"] * STEPS))
    assert decay == DECAY
    factor = {s: wsd_factor(s, warmup_steps=WARMUP, total_steps=STEPS, decay_steps=decay) for s in (169_999, 185_000)}
    assert factor[169_999] == 1.0 and factor[185_000] == pytest.approx(1 - math.sqrt(0.5))  # 1-sqrt over the last 30k
    optimizer = model["optimizer"]
    assert optimizer["class_path"] == "torch.optim.AdamW"
    assert optimizer["init_args"]["lr"] == PEAK_LR[model["arch"]]
    assert optimizer["init_args"]["weight_decay"] == 0.01
    assert trainer["gradient_clip_val"] == 1.0 and trainer["gradient_clip_algorithm"] in (None, "norm")


@pytest.mark.parametrize("paths", COMBINATIONS, ids=_id)
def test_real_data_and_cosmo2_vocabulary(paths):
    """SmolLM-v1 from prepared dirs with a user-supplied tokenizer.json; the arch's vocabulary is cosmo2's."""
    config = parsed(paths)
    model, data = config["model"], config["data"]
    assert data["class_path"] == "lightning_iter.data.StreamingDataModule"
    args = data["init_args"]
    assert str(args["tokenizer"]).endswith("tokenizer.json")
    weights = {k: v for k, v in args["weights"].items() if v}
    assert weights == pytest.approx(SMOLLM_V1) and set(weights) == set(SMOLLM_V1)
    assert model.get("vocab_size") is None and "vocab_size" not in (model["arch_overrides"] or {})
    assert ModelConfig.from_name(model["arch"]).vocab_size == COSMO2_VOCAB
    cooldown = args.get("cooldown")
    if cooldown is not None:
        assert cooldown["start_step"] == STEPS - DECAY  # the cooldown mixture covers the final 30k steps


@pytest.mark.parametrize("paths", COMBINATIONS, ids=_id)
def test_growth_is_b4_prop1_over_170k(paths):
    config = parsed(paths)
    model = config["model"]
    depth = dict(model["depth"])
    strategy = get_strategy(**depth)
    target = replace(ModelConfig.from_name(model["arch"]), **(model["arch_overrides"] or {}))
    strategy.setup(target)
    if depth["name"] in ("midas", "lidas"):
        assert (depth["block_size"], depth["initial_depth"], depth["horizon"], depth["alpha"]) == (4, 4, HORIZON, 1.0)
        stages = strategy.stage_steps()
        assert stages == prop_alpha(len(stages), HORIZON, 1.0) and sum(stages) == HORIZON
        assert strategy.n_unique_at(HORIZON) == target.n_layers  # full depth before the cooldown
    if depth.get("retrofit") is not None:
        assert depth["retrofit"]["start_step"] == STEPS - DECAY
