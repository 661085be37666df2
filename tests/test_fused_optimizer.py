"""Fused AdamW by default: chosen only where it applies, and a grown run equals the unfused one to fp32 rounding."""

from functools import partial

import lightning as L
import pytest
import torch

from lightning_iter.fused_optimizer import can_fuse, fuse_by_default, place_step_counts
from tests.helpers import small_data, small_lm, trainer

GROW = {"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 6}  # growth at steps 1 and 3


def grown(**optimizer_kwargs):
    L.seed_everything(0)
    lm = small_lm(
        GROW, n_layers=3, optimizer=partial(torch.optim.AdamW, lr=3e-3, betas=(0.9, 0.95), **optimizer_kwargs)
    )
    run = trainer(max_steps=8)
    run.fit(lm, small_data())
    return lm, run.optimizers[0]


def test_a_grown_run_with_fused_adamw_equals_the_unfused_run():
    fused_lm, fused_opt = grown()  # the default: fused
    plain_lm, plain_opt = grown(fused=False)
    assert all(g["fused"] is True for g in fused_opt.param_groups)
    assert all(g["fused"] is False for g in plain_opt.param_groups)
    assert fused_lm.model.n_unique == plain_lm.model.n_unique == 3
    for (name, a), b in zip(fused_lm.model.named_parameters(), plain_lm.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=5e-7, msg=name)
    # the grown layers' state came along: same keys and step counts as the unfused optimizer's
    for a, b in zip(fused_lm.model.parameters(), plain_lm.model.parameters(), strict=True):
        sa, sb = fused_opt.state[a], plain_opt.state[b]
        assert sa.keys() == sb.keys() == {"step", "exp_avg", "exp_avg_sq"}
        assert float(sa["step"]) == float(sb["step"])
        torch.testing.assert_close(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "fused"),
    [({}, True), ({"fused": False}, False), ({"foreach": True}, False), ({"differentiable": True}, False)],
)
def test_only_an_unset_choice_becomes_fused(kwargs, fused):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    assert fuse_by_default(optimizer) is fused
    assert bool(optimizer.param_groups[0]["fused"]) is fused


def test_other_optimizers_and_integer_parameters_are_left_alone():
    assert not can_fuse(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1))
    assert not can_fuse(torch.optim.AdamW([torch.zeros(2, dtype=torch.float16), torch.zeros(2, dtype=torch.int64)]))


def test_a_started_optimizer_is_not_switched():
    p = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.AdamW([p])
    p.grad = torch.ones(2)
    optimizer.step()
    assert not fuse_by_default(optimizer) and optimizer.param_groups[0]["fused"] is None


def test_step_counts_follow_the_implementation_when_a_state_changes_hands():
    p = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.AdamW([p], fused=False)
    p.grad = torch.ones(2)
    optimizer.step()
    optimizer.state[p]["step"] = optimizer.state[p]["step"].to(torch.float64)  # not what either implementation keeps
    optimizer.param_groups[0]["fused"] = True  # e.g. resumed under a fused run (resume.py restores the run's choice)
    place_step_counts(optimizer)
    step = optimizer.state[p]["step"]
    assert step.dtype == torch.float32 and step.device == p.device and float(step) == 1.0
    optimizer.step()
    assert float(optimizer.state[p]["step"]) == 2.0


def test_a_default_fused_optimizer_can_still_be_clipped_under_mixed_precision():
    """The paper recipes train bf16-mixed with gradient_clip_val: 1.0; Lightning refuses to clip an optimizer that
    unscales inside its step, so the default fused AdamW must leave unscaling to the GradScaler."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    p = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([p])
    assert fuse_by_default(optimizer)
    p.grad = torch.full((3,), 10.0)
    MixedPrecision("bf16-mixed", "cpu").clip_gradients(optimizer, clip_val=1.0)
    torch.testing.assert_close(p.grad.norm(), torch.tensor(1.0))
    optimizer.step()
    assert float(optimizer.state[p]["step"]) == 1.0


def test_a_grown_bf16_mixed_run_with_clipping_trains():
    """The paper recipes' setting: bf16-mixed, gradient_clip_val 1.0 (helpers.trainer), the default fused AdamW."""
    L.seed_everything(0)
    lm = small_lm(GROW, n_layers=3)
    run = trainer(max_steps=4, precision="bf16-mixed")
    run.fit(lm, small_data())
    assert run.global_step == 4 and lm.model.n_unique == 3
    assert all(g["fused"] is True for g in run.optimizers[0].param_groups)
    assert all(torch.isfinite(p).all() for p in lm.model.parameters())
