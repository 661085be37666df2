"""FSDP2 (`fully_shard`) over the layer plan: one FSDP unit per unique layer plus the root, and sharded growth copies.

The growth transaction (`depth/transaction.py`) asks `copy_layer` for a new layer: under FSDP2 a deep copy of a
sharded module is not possible, so a fresh `DecoderLayer` is built without initialising it, sharded like its
source and filled with the source's local shards (no gather). After the layer list changes, `refresh_root` makes
the root's FSDP state take in the new layers' states at the next forward (FSDP2 lists them once, lazily).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..model.layers import DecoderLayer
from ..model.transformer import Transformer

SHARDING_ATTR = "_lightning_iter_fsdp"


@dataclass(frozen=True)
class Sharding:
    """How a model's layers were `fully_shard`ed, so that grown layers are sharded the same way."""

    mesh: Any  # the 1-D data-parallel DeviceMesh

    def apply(self, module: nn.Module) -> None:
        """Every unit, the root too, reshards after its forward. FSDP2's default keeps the root gathered after
        forward; after a no-grad forward (validation) nothing reshards it, so `model.parameters()` would be the
        unsharded tensors, not the optimizer's, when growth re-sorts the groups or a checkpoint is written."""
        from torch.distributed.fsdp import fully_shard  # here: `import lightning_iter.depth` stays light

        fully_shard(module, mesh=self.mesh, reshard_after_forward=True)


def sharding_of(model: nn.Module) -> Sharding | None:
    """The `Sharding` `shard_model` applied to `model`, or None when it is not sharded."""
    return getattr(model, SHARDING_ATTR, None)


def check_shardable(tensor_parallel_size: int, compile_layers: Any) -> None:
    """One error at start-up for what FSDP2 training of a layer plan does not support here."""
    if tensor_parallel_size != 1:
        raise ConfigError(
            f"trainer.strategy.tensor_parallel_size={tensor_parallel_size} is not supported: lightning_iter "
            "shards with FSDP2 only (ModelParallelStrategy with data_parallel_size = the number of processes and "
            "tensor_parallel_size: 1)"
        )
    if compile_layers:
        raise ConfigError(
            f"model.compile={compile_layers!r} is not supported with ModelParallelStrategy (FSDP2): per-layer "
            "torch.compile of sharded, grown and looped layers is not tested here; set model.compile: false "
            "(or train with strategy: ddp)"
        )


def shard_model(model: Transformer, mesh: Any) -> bool:
    """`fully_shard` every unique layer, then the root (embeddings, final norm, lm head); False if already sharded.

    A looped layer is one FSDP unit called once per pass: FSDP2 gathers it for each call (resharding in between)
    and reduce-scatters the gradient summed over its passes.
    """
    if sharding_of(model) is not None:
        return False  # configure_model runs for every fit/validate/test call on the same module
    sharding = Sharding(mesh)
    for layer in model.layers:
        sharding.apply(layer)
    sharding.apply(model)
    setattr(model, SHARDING_ATTR, sharding)
    return True


def copy_layer(model: Transformer, source: nn.Module) -> nn.Module:
    """A new layer equal to `source`: a deep copy, or under FSDP2 a fresh layer sharded the same way and filled with
    `source`'s local shards (each rank copies only its own shard: nothing is gathered)."""
    sharding = sharding_of(model)
    if sharding is None:
        return copy.deepcopy(source)
    reference = _local(next(source.parameters()))
    with torch.device("meta"):  # no initialisation (and no RNG draw): every value is copied below
        layer = DecoderLayer(model.config)
    layer.to_empty(device=reference.device)
    layer.to(dtype=reference.dtype)
    sharding.apply(layer)
    copy_local_shards(source, layer)
    return layer


def copy_local_shards(source: nn.Module, target: nn.Module) -> None:
    """Copy every parameter of `source` into the same-named, same-sharded parameter of `target`, shard by shard."""
    src, dst = dict(source.named_parameters()), dict(target.named_parameters())
    if list(src) != list(dst):
        raise ConfigError(f"sharded growth copy: parameter names differ ({list(src)} vs {list(dst)})")
    with torch.no_grad():
        for name, value in src.items():
            into, local = _local(dst[name]), _local(value)
            if _is_dtensor(value) and (value.placements != dst[name].placements or into.shape != local.shape):
                raise ConfigError(
                    f"sharded growth copy: {name} is sharded as {value.placements} {tuple(local.shape)} in the "
                    f"source but {dst[name].placements} {tuple(into.shape)} in the copy"
                )
            into.copy_(local)


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state (AdamW `exp_avg`, `exp_avg_sq`, `step`) for a copied parameter: DTensor moments are
    cloned shard by shard (a local op, no collective), everything else deep-copied."""
    return {key: value.detach().clone() if _is_dtensor(value) else copy.deepcopy(value) for key, value in state.items()}


def refresh_root(model: Transformer) -> None:
    """Make the root FSDP state list the current layers' states again: FSDP2 collects its children's states once,
    at the root's first forward (`FSDPState._lazy_init`), so a grown layer would otherwise act as a root of its own
    (own streams, own post-backward callback) and the removed list entries would linger. The lazy init runs again
    at the next forward; it is idempotent for the existing parameter groups."""
    if sharding_of(model) is None:
        return
    from torch.distributed.fsdp import FSDPModule

    root = model._get_fsdp_state()
    if root._is_root is None:
        return  # not initialised yet: the first forward sees the layers as they are
    for module in model.modules():
        state = module._get_fsdp_state() if isinstance(module, FSDPModule) else None
        if state is None:
            continue
        state._is_root = None
        for group in state._fsdp_param_groups:
            group._module_fqn = None  # set again (prefixed from the root) by the lazy init
    root._state_ctx = type(root._state_ctx)()


def _is_dtensor(value: Any) -> bool:
    """Whether `value` is a DTensor (none exists unless torch.distributed.tensor was imported)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(value, module.DTensor)


def _local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if _is_dtensor(tensor) else tensor


def shard_new_layers(model: Transformer) -> int:
    """`fully_shard` the layers of a sharded model that are not yet (fresh layers of `Transformer.resize`, e.g. at a
    resume into the checkpoint's depth) like the rest, and refresh the root; returns how many were sharded."""
    sharding = sharding_of(model)
    if sharding is None:
        return 0
    from torch.distributed.fsdp import FSDPModule

    fresh = [layer for layer in model.layers if not isinstance(layer, FSDPModule)]
    for layer in fresh:
        sharding.apply(layer)
    if fresh:
        refresh_root(model)
    return len(fresh)
