"""Batched generation: prompts of different lengths decode as they would alone; one seed per sampled row."""

import pytest
import torch

from lightning_iter.errors import ConfigError
from lightning_iter.generation import generate
from lightning_iter.generation.generate import pad_prompts
from tests.generation.test_generation import CONFIG, model_for

PROMPTS = [[5, 9, 2], [7, 1, 4, 4, 8, 3, 11], [13, 6, 6, 20, 1]]


@pytest.mark.parametrize("name", ["looped", "repeated", "grown"])
@pytest.mark.parametrize("cache", ["per_pass", "shared", "none"])
def test_batched_greedy_equals_one_by_one(name, cache):
    model = model_for(name)
    batched = generate(model, PROMPTS, 10, cache=cache, keep_logits=cache != "none")
    assert batched.pad == [4, 0, 2]
    for row, prompt in enumerate(PROMPTS):
        alone = generate(model, torch.tensor([prompt]), 10, cache=cache, keep_logits=True)
        assert batched.sequence(row) == alone.tokens[0].tolist()
        for step, logits in enumerate(batched.step_logits):
            torch.testing.assert_close(logits[row], alone.step_logits[step][0], atol=1e-5, rtol=1e-4)


def test_batched_rows_stop_at_eos_independently():
    model = model_for("looped")
    alone = [generate(model, torch.tensor([p]), 8).new_tokens[0].tolist() for p in PROMPTS]
    eos = alone[1][2]  # the third token of the second prompt's continuation
    batched = generate(model, PROMPTS, 8, eos_id=eos)
    for row, expected in enumerate(alone):
        cut = expected[: expected.index(eos) + 1] if eos in expected else expected
        got = batched.new_tokens[row].tolist()
        assert got[: len(cut)] == cut and set(got[len(cut) :]) <= {eos}


def test_num_samples_rows_are_distinct_and_seed_determined():
    model = model_for("repeated")
    prompt = [3, 8, 1]
    seeds = [11, 12, 13, 14]
    batch = generate(model, [prompt] * 4, 8, temperature=1.0, seed=seeds)
    rows = [batch.new_tokens[r].tolist() for r in range(4)]
    assert len({tuple(r) for r in rows}) == 4
    for seed, row in zip(seeds, rows):
        assert generate(model, [prompt], 8, temperature=1.0, seed=seed).new_tokens[0].tolist() == row
    mixed = generate(model, [[1, 2], prompt, prompt], 8, temperature=1.0, seed=[5, 11, 12])
    assert [mixed.new_tokens[r].tolist() for r in (1, 2)] == rows[:2]
    with pytest.raises(ConfigError, match="got 2 seeds for 3 prompts"):
        generate(model, [prompt] * 3, 2, temperature=1.0, seed=[1, 2])


def test_bad_prompts_are_one_clear_error():
    with pytest.raises(ConfigError, match="non-empty token lists"):
        pad_prompts([[1, 2], []])
    with pytest.raises(ConfigError, match="non-empty"):
        generate(model_for("grown"), torch.zeros(1, 0, dtype=torch.long), 2)
    tokens, pad = pad_prompts([[1], [2, 3, 4]])
    assert tokens.tolist() == [[0, 0, 1], [2, 3, 4]] and pad.tolist() == [2, 0]
    assert pad_prompts([[1, 2], [3, 4]])[1] is None
    assert CONFIG.vocab_size > max(max(p) for p in PROMPTS)
