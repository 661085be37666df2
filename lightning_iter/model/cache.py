"""KV cache indexed by effective depth (DESIGN.md §1): one slot per position of the plan.

A looped or repeated layer runs at several depths and so keeps one cache entry per pass
(`mode="per_pass"`, exact: cached decoding equals full-forward decoding). `mode="shared"` keeps one
slot per *unique* layer, so all passes of a loop share it: memory falls from `depth` to `n_unique`
slots, but a pass then attends to earlier tokens' keys/values written by the *last* pass of that
layer, not by itself, so its outputs differ from full-forward decoding (a zero-shot approximation,
as Huginn's KV-cache sharing; Geiping et al. 2025).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from ..errors import PlanError, check_choice

CACHE_MODES = ("per_pass", "shared")


class KVSlot:
    """Keys and values [batch, kv_heads, positions, head_dim] of one cache slot, grown in place."""

    def __init__(self, cache: KVCache) -> None:
        self._cache = cache
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.length = 0

    @property
    def offset(self) -> int:
        """Absolute position of the first token of the current forward."""
        return self._cache.position

    def write(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k/v of positions offset..offset+T-1 (overwriting what a shared pass wrote) and return 0..offset+T-1."""
        start, end = self.offset, self.offset + k.shape[2]
        if self.k is None or end > self.k.shape[2]:
            self._grow(k, v, end)
        assert self.k is not None and self.v is not None
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = max(self.length, end)
        return self.k[:, :, :end], self.v[:, :, :end]

    def _grow(self, k: torch.Tensor, v: torch.Tensor, needed: int) -> None:
        old = 0 if self.k is None else self.k.shape[2]
        capacity = max(needed, self._cache.max_len or 0, 2 * old)
        shape = (k.shape[0], k.shape[1], capacity, k.shape[3])
        new_k, new_v = k.new_empty(shape), v.new_empty(shape)
        if self.k is not None and self.v is not None:
            new_k[:, :, : self.length] = self.k[:, :, : self.length]
            new_v[:, :, : self.length] = self.v[:, :, : self.length]
        self.k, self.v = new_k, new_v

    def copy_from(self, other: KVSlot, start: int, end: int) -> None:
        """Fill positions start..end-1 with `other`'s entries (a skipped pass reuses the last pass's keys)."""
        assert other.k is not None and other.v is not None
        if self.k is None or end > self.k.shape[2]:
            self._grow(other.k, other.v, end)
        assert self.k is not None and self.v is not None
        self.k[:, :, start:end] = other.k[:, :, start:end]
        self.v[:, :, start:end] = other.v[:, :, start:end]
        self.length = max(self.length, end)

    def write_rows(self, rows: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> None:
        """Store k/v [batch, kv_heads, n, head_dim] at positions start..start+n-1 of the rows where `rows` is True
        (a sequence that exited a loop early keeps the keys/values of its last pass: `generation.adaptive`)."""
        end = start + k.shape[2]
        if self.k is None or end > self.k.shape[2]:
            self._grow(k, v, end)
        assert self.k is not None and self.v is not None
        self.k[rows, :, start:end] = k[rows]
        self.v[rows, :, start:end] = v[rows]
        self.length = max(self.length, end)

    def attention_mask(self, seq: int, keys: int, device: torch.device) -> torch.Tensor | None:
        """Causal mask [batch, 1, seq, keys] that hides left padding (`KVCache.pad`); None without padding.

        A padding query sees itself only, so its (unused) output stays finite and no real token sees padding.
        """
        pad = self._cache.pad
        if pad is None:
            return None
        rows = torch.arange(seq, device=device)[:, None] + self.offset
        cols = torch.arange(keys, device=device)[None, :]
        real = cols[None] >= pad.to(device)[:, None, None]
        return ((cols <= rows)[None] & (real | (cols == rows)[None]))[:, None]

    def nbytes(self) -> int:
        if self.k is None or self.v is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()


class KVCache:
    """The cache of one generation: slots keyed by plan position (`per_pass`) or unique layer (`shared`).

    `position` counts the tokens already cached; `Transformer.forward_cached` advances it. `pad` [batch]: left
    padding per row of a batch of prompts of different lengths (positions and attention then start per row).
    """

    def __init__(
        self, plan: Iterable[int], mode: str = "per_pass", max_len: int | None = None, pad: torch.Tensor | None = None
    ) -> None:
        check_choice("cache", mode, CACHE_MODES)
        self.plan = tuple(plan)
        self.mode = mode
        self.max_len = max_len
        self.position = 0
        self.pad = pad
        keys = range(len(self.plan)) if mode == "per_pass" else sorted(set(self.plan))
        self._slots = {key: KVSlot(self) for key in keys}

    def slot(self, depth: int) -> KVSlot:
        """The slot used by the layer at plan position `depth`."""
        return self._slots[depth if self.mode == "per_pass" else self.plan[depth]]

    @property
    def n_slots(self) -> int:
        return len(self._slots)

    def check_plan(self, plan: tuple[int, ...]) -> None:
        if plan != self.plan:
            raise PlanError(
                f"the KV cache was built for plan {self.plan} but the model now runs plan {plan}: "
                "build a new cache after changing the plan"
            )

    def advance(self, n: int) -> None:
        self.position += n

    def fork(self, rows: Sequence[int], length: int, extra: int = 0) -> KVCache:
        """A new cache whose row r holds positions 0..length-1 of row `rows[r]` of this one, with room for `extra`
        more: several continuations of one cached prefix (shared-prompt scoring, `eval.scoring`)."""
        forked = KVCache(self.plan, self.mode, self.max_len)
        forked.position = length
        if self.pad is not None:
            forked.pad = self.pad[torch.as_tensor(list(rows), dtype=torch.long, device=self.pad.device)]
        for name, slot in self._slots.items():
            if slot.k is None or slot.v is None:
                continue
            index = torch.as_tensor(list(rows), dtype=torch.long, device=slot.k.device)
            copy = forked._slots[name]
            shape = (len(index), slot.k.shape[1], length + extra, slot.k.shape[3])
            copy.k, copy.v = slot.k.new_empty(shape), slot.v.new_empty(shape)
            copy.k[:, :, :length] = slot.k[:, :, :length].index_select(0, index)
            copy.v[:, :, :length] = slot.v[:, :, :length].index_select(0, index)
            copy.length = length
        return forked

    def nbytes(self) -> int:
        """Bytes held by all slots (allocated capacity)."""
        return sum(slot.nbytes() for slot in self._slots.values())
