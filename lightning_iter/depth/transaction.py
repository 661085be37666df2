"""The growth transaction on (model, optimizer state, plan) — DESIGN.md §3.

New layers are deep copies of existing ones; each copied parameter's optimizer state (AdamW
`exp_avg`, `exp_avg_sq`, `step`, or whatever the optimizer keeps) is deep-copied to its copy, which
joins the source's parameter group. Everything new is built before anything is changed, so a failure
leaves model and optimizer as they were. Under FSDP2 the copies are sharded layers filled shard by shard
and the root's FSDP state is refreshed to include them (`depth/sharded.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..model.plan import identity_plan, is_identity
from ..model.transformer import Transformer
from .sharded import copy_layer, copy_state, refresh_root


def grow_layers(
    model: Transformer,
    sources: Sequence[int],
    insert_at: int,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """Insert deep copies of `model.layers[sources]` (in that order) at `insert_at`; return (source, copy) params."""
    n = model.n_unique
    if not is_identity(model.plan):
        raise ConfigError(
            f"cannot grow a model whose plan is not the identity (plan={model.plan}): growth adds unique layers "
            "to untied models; loops and repetitions are plans over existing layers"
        )
    if not sources:
        raise ConfigError("growth needs at least one source layer")
    for index in sources:
        if not 0 <= index < n:
            raise ConfigError(f"growth source layer {index} is out of range: the model has {n} layers (0..{n - 1})")
    if not 0 <= insert_at <= n:
        raise ConfigError(f"growth insert position {insert_at} is out of range: allowed 0..{n}")

    copies = [copy_layer(model, model.layers[index]) for index in sources]
    pairs = [
        (src, new)
        for index, layer in zip(sources, copies)
        for src, new in zip(model.layers[index].parameters(), layer.parameters())
    ]
    for _, new in pairs:
        new.grad = None
    new_state = {}
    group_of = {}
    if optimizer is not None:
        owner = {id(p): g for g, group in enumerate(optimizer.param_groups) for p in group["params"]}
        for src, new in pairs:
            if id(src) not in owner:
                raise ConfigError(
                    "growth: a source parameter is not in the optimizer; was the optimizer built for this model?"
                )
            group_of[id(new)] = owner[id(src)]
            if src in optimizer.state:
                new_state[new] = copy_state(optimizer.state[src])

    layers = list(model.layers)
    layers[insert_at:insert_at] = copies
    model.replace_layers(layers, identity_plan(len(layers)))
    refresh_root(model)
    if optimizer is not None:
        for _, new in pairs:
            optimizer.param_groups[group_of[id(new)]]["params"].append(new)
        optimizer.state.update(new_state)
        sort_param_groups(model, optimizer)
    return pairs


def untie_layers(model: Transformer) -> Transformer:
    """Give every plan position its own deep copy of its layer (plan becomes 0..depth-1): same function, untied
    weights (the seeds' "untied during fine-tuning" looped models, seed 000 App. H.1). Growth-like: it creates
    unique layers; call it before building an optimizer (no optimizer state is carried)."""
    layers = [copy_layer(model, model.layers[i]) for i in model.plan]
    model.replace_layers(layers, identity_plan(len(layers)))
    refresh_root(model)
    return model


def sort_param_groups(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Order each group's parameters as `model.parameters()` does.

    Optimizer state dicts index parameters by position, so the order must equal what a fresh
    `configure_optimizers` on the rebuilt model produces when a checkpoint is resumed.
    """
    order = {id(p): i for i, p in enumerate(model.parameters())}
    for group in optimizer.param_groups:
        group["params"].sort(key=lambda p: order.get(id(p), len(order)))
