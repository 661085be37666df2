"""The grow operators MIDAS and LIDAS (seed 004 §3.1, Fig. 2; seed 000 App. F).

Reading of the LIDAS formula (seed 004 §3.1 writes m_l = ⌈L/2⌉ and B' = [l_{m_l-⌊b/2⌋} … l_{m_l+⌊b/2⌋}],
which has b+1 layers for even b): we copy the b consecutive layers centred on the layer-wise middle,
starting at s = ⌊(L − b)/2⌋ (0-based), and insert the copy right after them at s + b. For even b and an
even number of blocks this is "last b/2 layers of block m and first b/2 of block m+1" (Fig. 2); for an
odd number of blocks it is block m, i.e. LIDAS equals MIDAS; for odd b it is the paper's formula read
with 1-based layer numbers. Unlike MIDAS, LIDAS is defined for depths that are not multiples of b.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import GrowOperator
from .registry import register_strategy


@register_strategy("midas")
class MIDAS(GrowOperator):
    """Copy the middle block B_m, m = ⌈n/2⌉ − 1 of the n = L/b blocks, and insert it right after B_m."""

    def _check_depth(self, depth: int) -> None:
        super()._check_depth(depth)
        if depth % self.block_size:
            raise ConfigError(
                f"midas needs depths that are multiples of depth.block_size={self.block_size}: depth {depth} is not "
                "(use lidas, which is defined for any depth >= block_size)"
            )

    def select(self, depth: int) -> tuple[list[int], int]:
        self._check_depth(depth)
        b = self.block_size
        n = depth // b
        m = -(-n // 2) - 1
        return list(range(m * b, (m + 1) * b)), (m + 1) * b


@register_strategy("lidas")
class LIDAS(GrowOperator):
    """Copy the b layers centred on the layer-wise middle and insert the copy right after them."""

    def select(self, depth: int) -> tuple[list[int], int]:
        self._check_depth(depth)
        b = self.block_size
        start = (depth - b) // 2
        return list(range(start, start + b)), start + b
