"""ICL and SFT sweeps: context limits, untying, answer-only loss, and the sweep results' shape."""

from __future__ import annotations

import pytest
import torch

from lightning_iter.data.tokenizer import ByteTokenizer
from lightning_iter.depth import untie_layers
from lightning_iter.errors import ConfigError
from lightning_iter.eval.icl_sweep import default_shots, icl_sweep, max_shots_that_fit
from lightning_iter.eval.primitives import make_example, test_set
from lightning_iter.eval.sft_sweep import fine_tune, sft_batch, sft_examples, sft_sweep
from tests.eval.checkpoints import tiny_model

TOK = ByteTokenizer()


def test_context_limit_is_the_most_shots_that_fit():
    for window in (128, 512, 1024):
        limit = max_shots_that_fit(TOK, "assign_basic", 1, window)

        def fits(k: int, window: int = window) -> bool:
            return all(len(TOK.encode(e.prompt)) + 5 <= window for e in test_set("assign_basic", 1, 8, k))

        assert fits(limit) and not fits(limit + 1)
    assert max_shots_that_fit(TOK, "copy_real", 0, 10) == -1
    assert default_shots(5) == [0, 1, 2, 4, 5] and default_shots(0) == [0]


def test_icl_sweep_stays_within_the_context_limit():
    model = tiny_model(max_seq_len=256)
    result = icl_sweep(model, TOK, ["assign_basic", "copy_random"], [0], n_items=3, progress=False)
    assert result["window"] == 256
    assert set(result["curves"]) == {"assign_basic@0", "copy_random@0"}
    for name, points in result["curves"].items():
        shots = [k for k, _ in points]
        assert shots == default_shots(result["limit"][name])
        assert all(0.0 <= a <= 1.0 for _, a in points)
    assert result["limit"]["assign_basic@0"] > result["limit"]["copy_random@0"]  # copying prompts are longer
    with pytest.raises(ConfigError, match="does not fit"):
        icl_sweep(tiny_model(max_seq_len=16), TOK, ["copy_real"], n_items=1, progress=False)


def test_untie_keeps_the_function_and_unties_the_weights():
    model = tiny_model(n_layers=2, plan=(0, 1, 0, 1))
    tokens = torch.randint(0, 256, (2, 10))
    with torch.no_grad():
        before = model(tokens)
        untie_layers(model)
        after = model(tokens)
    torch.testing.assert_close(before, after)
    assert model.n_unique == 4 and model.plan == (0, 1, 2, 3)
    assert model.layers[0].mlp.up_proj.weight.data_ptr() != model.layers[2].mlp.up_proj.weight.data_ptr()


def test_sft_batch_scores_only_the_answer_and_eos():
    items = sft_examples("assign_code", [1, 2], 4, shots=0, seed=0)
    assert sorted(i.depth for i in items) == [1, 1, 2, 2]
    assert not {i.query.prompt for i in items} & {
        e.query.prompt for d in (1, 2) for e in test_set("assign_code", d, 50, 0)
    }
    inputs, targets = sft_batch(TOK, items, window=512)
    for row, item in zip(targets, items):
        scored = [t for t in row.tolist() if t != -100]
        assert scored == [*TOK.encode(" " + item.target), TOK.eos_id]
    with pytest.raises(ConfigError, match="split equally"):
        sft_examples("assign_code", [1, 2], 5, 0, 0)


def test_fine_tuning_lowers_the_answer_loss():
    torch.manual_seed(0)
    model = tiny_model(n_layers=2)
    items = sft_examples("assign_basic", [0], 8, shots=0, seed=0)
    losses = fine_tune(model, TOK, items, epochs=30, batch_size=8, lr=3e-3)
    assert losses[-1] < 0.5 * losses[0]


def test_sft_sweep_tunes_fresh_copies_and_reports_each_size():
    model = tiny_model(n_layers=2, plan=(0, 1, 0, 1))
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    result = sft_sweep(model, TOK, sizes=[2, 4], shots=0, epochs=1, batch_size=4, n_items=3, untie=True, progress=False)
    assert result["sizes"] == [0, 2, 4]
    assert [n for n, _ in result["curves"]["assign_code@1"]] == [0, 2, 4]
    assert set(result["curves"]) == {"assign_code@1", "assign_code@2"}
    assert model.plan == (0, 1, 0, 1)  # the swept model itself is untouched
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in reference.items())
    with pytest.raises(ConfigError, match="variable-assignment"):
        sft_sweep(model, TOK, task="copy_real", progress=False)
    assert make_example("assign_code", 1, 0, 0, 0, namespace="primitives-sft") != make_example(
        "assign_code", 1, 0, 0, 0
    )


def test_eos_scoring_leaves_room_for_the_eos_and_is_named_in_the_sweeps():
    # a window exactly as long as the 2-shot prompts, their longest choice and one token of headroom
    items = [make_example("assign_basic", 1, 2, 0, i) for i in range(8)]
    window = max(len(TOK.encode(e.prompt)) + max(len(TOK.encode(" " + c)) for c in e.choices) + 1 for e in items)
    assert max_shots_that_fit(TOK, "assign_basic", 1, window) == 2
    assert max_shots_that_fit(TOK, "assign_basic", 1, window, scoring="eos") == 1  # the EOS needs one more
    model = tiny_model(max_seq_len=256)
    icl = icl_sweep(model, TOK, ["assign_basic"], [0], [0], n_items=2, progress=False, scoring="eos")
    assert (
        icl["scoring"] == "eos"
        and icl_sweep(model, TOK, ["assign_basic"], [0], [0], n_items=2, progress=False)["scoring"] == "lm_eval"
    )
    sft = sft_sweep(model, TOK, sizes=[2], shots=0, epochs=1, n_items=2, progress=False, scoring="eos")
    assert sft["scoring"] == "eos"
    with pytest.raises(ConfigError, match="--scoring='EOS'"):
        icl_sweep(model, TOK, ["assign_basic"], [0], [0], n_items=2, progress=False, scoring="EOS")
    with pytest.raises(ConfigError, match="--scoring='EOS'"):
        sft_sweep(model, TOK, sizes=[2], progress=False, scoring="EOS")
