"""Activation checkpointing in the plan walker: same gradients, every plan position recomputed, only in training."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.checkpoint import build_entry, check_compatible
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.cache import KVCache
from lightning_iter.model.plan import loop_plan, repeat_block
from lightning_iter.module import LanguageModel
from lightning_iter.resume import changed_fields
from tests.helpers import SMALL, Recorder, run_ddp_script, small_data, small_lm, trainer

SCRIPT = Path(__file__).with_name("activation_checkpointing_ddp_script.py")
FSDP_SCRIPT = Path(__file__).with_name("activation_checkpointing_fsdp_script.py")
PLANS = {
    "baseline": (0, 1, 2),
    "looped": loop_plan(1, 3, 1, 1),  # the middle layer runs three times: 0 1 1 1 2
    "repeated": repeat_block((0, 1, 2), 0, 3, 1),  # the whole block twice: 0 1 2 0 1 2
}


def pair(plan: tuple[int, ...], n_layers: int = 3) -> tuple[Transformer, Transformer]:
    """The same weights twice: without and with activation checkpointing."""
    torch.manual_seed(0)
    plain = Transformer(ModelConfig.from_name("tiny", **SMALL, n_layers=n_layers), plan)
    checkpointed = Transformer(ModelConfig.from_name("tiny", **SMALL, n_layers=n_layers, activation_checkpointing=True))
    checkpointed.plan = plan
    checkpointed.load_state_dict(plain.state_dict())
    return plain, checkpointed


def batch(seq: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.randint(0, 259, (2, seq + 1), generator=torch.Generator().manual_seed(1))
    return data[:, :-1], data[:, 1:]


def gradients(model: Transformer) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.train()
    model.zero_grad()
    loss = model.loss(*batch())
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in model.named_parameters()}


def layer_calls(model: Transformer) -> list[int]:
    """Installs forward pre-hooks (a recompute stops early, before forward hooks would run); the returned list
    collects the unique-layer index of every layer call."""
    calls: list[int] = []
    for index, layer in enumerate(model.layers):
        layer.register_forward_pre_hook(lambda *_, index=index: calls.append(index))
    return calls


@pytest.mark.parametrize("name", sorted(PLANS))
def test_gradients_equal_the_run_without_checkpointing(name):
    plain, checkpointed = pair(PLANS[name])
    loss, expected = gradients(plain)
    got_loss, got = gradients(checkpointed)
    torch.testing.assert_close(got_loss, loss, rtol=0, atol=0)
    assert set(got) == set(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-7, msg=key)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=6))
def test_any_plan_gets_the_same_gradients_and_recomputes_every_position(plan):
    plain, checkpointed = pair(tuple(plan))
    _, expected = gradients(plain)
    calls = layer_calls(checkpointed)
    _, got = gradients(checkpointed)
    for key in expected:  # (a layer the plan leaves out has no gradient in both)
        assert (got[key] is None) == (expected[key] is None), key
        if expected[key] is not None:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-7, msg=key)
    # forward ran the plan once; backward recomputed each position (last first), a looped layer once per pass
    assert calls == list(plan) + list(reversed(plan))


def test_a_looped_layer_is_recomputed_once_per_pass():
    _, checkpointed = pair(PLANS["looped"])
    calls = layer_calls(checkpointed)
    gradients(checkpointed)
    assert calls == [0, 1, 1, 1, 2] + [2, 1, 1, 1, 0]


def test_checkpointing_keeps_fewer_activations():
    plain, checkpointed = pair(PLANS["looped"])

    def saved_bytes(model: Transformer) -> int:
        total = 0

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.train().loss(*batch(seq=32))
        return total

    # (saved by the checkpoint's own frame: each position's inputs; the recompute's are freed per position)
    assert saved_bytes(checkpointed) < saved_bytes(plain) / 2


@pytest.mark.parametrize("mode", ["eval", "no_grad", "cache"])
def test_not_checkpointed_outside_training_with_grad(mode):
    plain, checkpointed = pair(PLANS["looped"])
    tokens, _ = batch()
    calls = layer_calls(checkpointed)
    assert checkpointed.train().checkpoints_activations()
    if mode == "eval":
        plain.eval(), checkpointed.eval()
        assert not checkpointed.checkpoints_activations()
        out, expected = checkpointed(tokens), plain(tokens)
    elif mode == "no_grad":
        with torch.no_grad():
            assert not checkpointed.checkpoints_activations()
            out, expected = checkpointed(tokens), plain(tokens)
    else:  # filling a KV cache (generation, scoring) even in train mode with grad enabled
        cache = KVCache(checkpointed.plan)
        assert not checkpointed.checkpoints_activations(cache)
        out, expected = (
            checkpointed.forward_cached(tokens, cache),
            plain.train().forward_cached(tokens, KVCache(plain.plan)),
        )
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    if out.requires_grad:
        out.sum().backward()
    assert calls == list(PLANS["looped"])  # no checkpointed position: nothing was recomputed


def test_the_option_is_validated_by_name():
    with pytest.raises(ConfigError, match=r"model\.activation_checkpointing.*'yes'"):
        ModelConfig.from_name("tiny", activation_checkpointing="yes")


def test_checkpoints_from_a_run_without_it_stay_compatible():
    plain, checkpointed = pair(PLANS["baseline"])
    check_compatible(build_entry(plain), checkpointed.config)  # switching it on at resume is allowed
    check_compatible(build_entry(checkpointed), plain.config)  # and off again


def language_model(checkpointing: bool) -> LanguageModel:
    """`small_lm({"name": "baseline"}, n_layers=2)` with the option set through `arch_overrides`."""
    L.seed_everything(0)
    overrides = {**SMALL, "n_layers": 2, "activation_checkpointing": checkpointing}
    return LanguageModel(
        arch="tiny", arch_overrides=overrides, warmup_steps=2, optimizer=partial(torch.optim.AdamW, lr=3e-3)
    )


def test_language_model_takes_it_through_arch_overrides():
    assert not small_lm({"name": "baseline"}, n_layers=2).model.config.activation_checkpointing
    lm = language_model(True)
    assert lm.model.config.activation_checkpointing and lm.model.checkpoints_activations()


def test_it_may_be_switched_on_at_resume_and_training_continues_the_same(tmp_path):
    uninterrupted = language_model(False)
    trainer(max_steps=4).fit(uninterrupted, small_data())
    first = language_model(False)
    t = trainer(max_steps=2)
    t.fit(first, small_data())
    t.save_checkpoint(tmp_path / "a.ckpt")
    resumed = language_model(True)  # the same run, resumed with checkpointing on
    recorder = Recorder()
    trainer(max_steps=4, callbacks=[recorder]).fit(resumed, small_data(), ckpt_path=tmp_path / "a.ckpt")
    assert resumed.model.config.activation_checkpointing and [row[0] for row in recorder.rows] == [2, 3]
    for key, value in uninterrupted.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)
    recorded = {"model": {"arch": "tiny", "arch_overrides": {"n_layers": 2}}}
    current = {"model": {"arch": "tiny", "arch_overrides": {"n_layers": 2, "activation_checkpointing": True}}}
    assert changed_fields(recorded, current) == [("model.arch_overrides.activation_checkpointing", None, True)]


@pytest.mark.slow  # two Lightning DDP fits in one 2-process gloo launch (~40 s wall on 2 shared cores)
def test_ddp_gradients_of_a_looped_model_equal_the_run_without_it(tmp_path):
    result = run_ddp_script([str(SCRIPT), str(tmp_path)])
    assert result.returncode == 0, result.stderr[-4000:]
    runs = {(ac, r): torch.load(tmp_path / f"ac{ac}_rank{r}.pt") for ac in (0, 1) for r in (0, 1)}
    assert all(run["world"] == 2 and run["checkpointed"] == bool(ac) for (ac, _), run in runs.items())
    for ac in (0, 1):  # ranks trained on different data yet stayed identical: the looped layer's gradient all-reduced
        assert runs[ac, 0]["losses"] != runs[ac, 1]["losses"]
        for key, value in runs[ac, 0]["params"].items():
            torch.testing.assert_close(runs[ac, 1]["params"][key], value, rtol=0, atol=0, msg=key)
    for rank in (0, 1):  # and with checkpointing they are the ones trained without it
        assert runs[1, rank]["losses"] == pytest.approx(runs[0, rank]["losses"], rel=1e-5)
        for key, value in runs[0, rank]["params"].items():
            torch.testing.assert_close(runs[1, rank]["params"][key], value, rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow  # one 2-process FSDP2 fit on gloo (~40 s wall on 2 shared cores) and its 1-process reference
def test_fsdp2_with_checkpointing_matches_one_process_without_it(tmp_path):
    from tests.depth.fsdp_growth_script import MAX_STEPS
    from tests.depth.test_fsdp_growth import assert_same_state
    from tests.model.activation_checkpointing_fsdp_script import run

    result = run_ddp_script([str(FSDP_SCRIPT), str(tmp_path), "2", "1"])
    assert result.returncode == 0, result.stderr[-4000:]
    run(tmp_path, 1, False)
    reference = torch.load(tmp_path / "loop-ac0-1-rank0.pt", weights_only=False)
    ranks = [torch.load(tmp_path / f"loop-ac1-2-rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert not reference["checkpointed"] and not reference["sharded"]
    for sharded in ranks:
        assert sharded["world"] == 2 and sharded["sharded"] and sharded["checkpointed"]
        # each step ran the 5 plan positions and recomputed each in backward (the looped layers once per pass)
        assert sharded["layer_calls"] == [10] * MAX_STEPS and reference["layer_calls"] == [5] * MAX_STEPS
        assert sharded["plans"] == reference["plans"] and sharded["plans"][-1] == (0, 1, 2, 1, 2)
        assert len(sharded["snapshots"]) == len(reference["snapshots"]) == 2  # at the start and at the end
        for ref, got in zip(reference["snapshots"], sharded["snapshots"]):
            assert_same_state(ref, got, f"step {ref['step']}")
    mean = [(a + b) / 2 for a, b in zip(ranks[0]["losses"], ranks[1]["losses"])]
    torch.testing.assert_close(torch.tensor(mean), torch.tensor(reference["losses"]), rtol=1e-5, atol=1e-6)


def test_an_imported_hugging_face_model_takes_it_as_an_override(tmp_path):
    from lightning_iter.model.export import save_hf
    from lightning_iter.model.hf import from_hf

    plain, _ = pair(PLANS["baseline"])
    imported = from_hf(save_hf(plain, tmp_path / "hf"), activation_checkpointing=True)
    assert imported.config.activation_checkpointing and imported.train().checkpoints_activations()
    _, expected = gradients(plain)
    _, got = gradients(imported)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-7, msg=key)
