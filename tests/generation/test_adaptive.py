"""Adaptive depth decided per sequence: in a batch each sequence exits the loop as it would alone."""

import pytest
import torch

from lightning_iter.errors import ConfigError
from lightning_iter.generation import AdaptiveDepth, generate
from lightning_iter.generation.adaptive import sequence_change
from lightning_iter.model import ModelConfig, Transformer, loop_plan
from tests.generation.test_generation import CONFIG

PROMPTS = [[5, 9, 2, 17], [7, 1, 4, 4, 8, 3, 11], [13, 6], [30, 31, 32, 33, 34]]


def deep_loop() -> Transformer:
    """Loop(1-2×4-1): a block of two layers run four times, so sequences can exit after 1, 2, 3 or 4 passes."""
    torch.manual_seed(4)
    return Transformer(ModelConfig(**{**CONFIG.to_dict(), "n_layers": 4}), loop_plan(2, 4, 1, 1))


def alone(model, options, cache, new=8):
    return [generate(model, [p], new, cache=cache, adaptive=options, keep_logits=True) for p in PROMPTS]


def threshold_that_splits(model, cache):
    """A delta threshold under which the prompts, each decoded alone, do not all exit after the same passes."""
    for threshold in (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6):
        options = AdaptiveDepth(threshold=threshold)
        runs = alone(model, options, cache)
        if len({tuple(r.passes[0]) for r in runs}) > 1 and len({r.prompt_passes[0] for r in runs}) > 1:
            return options, runs
    raise AssertionError("no threshold separates the sequences' exits")


@pytest.mark.parametrize("cache", ["per_pass", "shared"])
def test_each_sequence_exits_as_it_would_alone(cache):
    model = deep_loop()
    options, runs = threshold_that_splits(model, cache)
    batched = generate(model, PROMPTS, 8, cache=cache, adaptive=options, keep_logits=True)
    assert batched.prompt_passes == [r.prompt_passes[0] for r in runs]
    assert batched.passes == [r.passes[0] for r in runs]
    for row, run in enumerate(runs):
        assert batched.sequence(row) == run.tokens[0].tolist()
        for step, logits in enumerate(batched.step_logits):
            torch.testing.assert_close(logits[row], run.step_logits[step][0], atol=1e-5, rtol=1e-4)
    steps = list(zip(*batched.passes))
    assert any(len(set(step)) > 1 for step in steps)  # one batch step, different exits per sequence


def test_prefill_full_runs_every_pass_for_the_prompt():
    model = deep_loop()
    full = generate(model, PROMPTS, 4, adaptive=AdaptiveDepth(threshold=1e9, prefill="full"))
    assert full.prompt_passes == [4] * len(PROMPTS) and full.passes == [[1] * 3] * len(PROMPTS)
    exit_ = generate(model, PROMPTS, 4, adaptive=AdaptiveDepth(threshold=1e9))
    assert exit_.prompt_passes == [1] * len(PROMPTS)
    with pytest.raises(ConfigError, match="--adaptive_prefill='all' is not allowed"):
        AdaptiveDepth(threshold=0.1, prefill="all")


def test_sequence_change_is_per_row_over_real_positions():
    model = deep_loop()
    before = torch.ones(2, 3, CONFIG.d_model)
    after = before.clone()
    after[0, 0] *= 2  # row 0: position 0 changed by |2-1|/2 = 0.5, the others not at all
    after[1] *= 3  # row 1: every position changed by 2/3
    assert sequence_change(model, before, after, "delta").tolist() == pytest.approx([0.5 / 3, 2 / 3])
    real = torch.tensor([[True, False, False], [True, True, True]])
    assert sequence_change(model, before, after, "delta", real).tolist() == pytest.approx([0.5, 2 / 3])
    after[1, -1] = torch.linspace(-3, 3, CONFIG.d_model)  # row 1's last position now predicts something else
    with torch.no_grad():
        kl = sequence_change(model, before, after, "kl")
    assert kl.shape == (2,) and kl[0] == 0 and kl[1] > 1e-3  # row 0's last position did not change
