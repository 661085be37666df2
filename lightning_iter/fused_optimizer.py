"""Fused Adam/AdamW by default where the parameters' device has the fused kernel (issue 15 item 4).

torch's fused AdamW does the whole update in one kernel per device and dtype (CPU included since torch 2.4):
on the tiny model the optimizer step is several times faster than the for-each one, with the same update to
fp32 rounding. A run that names `fused` or `foreach` itself keeps its choice.
"""

from __future__ import annotations

import torch
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def can_fuse(optimizer: torch.optim.Optimizer) -> bool:
    """Adam/AdamW whose groups leave `fused`/`foreach` unset (None) and are not differentiable, with only floating
    parameters on devices that have the fused kernels."""
    if type(optimizer) not in FUSABLE:
        return False
    devices = set(_get_fused_kernels_supported_devices())
    for group in optimizer.param_groups:
        if group.get("fused") is not None or group.get("foreach") or group.get("differentiable"):
            return False
        if any(p.device.type not in devices or not torch.is_floating_point(p) for p in group["params"]):
            return False
    return True


def fuse_by_default(optimizer: torch.optim.Optimizer) -> bool:
    """Switch a fresh (stateless) Adam/AdamW to its fused implementation when `can_fuse`; True if it did."""
    if optimizer.state or not can_fuse(optimizer):
        return False
    for group in optimizer.param_groups:
        group["fused"] = True
    optimizer.defaults["fused"] = True
    # Unlike torch's constructor for fused=True, `_step_supports_amp_scaling` stays False: a GradScaler then
    # unscales before the step, so Lightning's mixed precision can still clip (it refuses clipping otherwise).
    return True


def place_step_counts(optimizer: torch.optim.Optimizer) -> None:
    """Put each `step` count where its group's implementation wants it (fused/capturable: a float32 tensor on the
    parameter's device; otherwise a CPU float32 tensor), as `load_state_dict` does: a state restored from a
    checkpoint written under the other implementation then steps without a device mismatch."""
    if type(optimizer) not in FUSABLE:
        return
    for group in optimizer.param_groups:
        on_device = bool(group.get("fused") or group.get("capturable"))
        for p in group["params"]:
            state = optimizer.state.get(p)
            step = state.get("step") if state else None
            if isinstance(step, torch.Tensor):
                device = p.device if on_device else torch.device("cpu")
                state["step"] = step.to(dtype=torch.float32, device=device)
