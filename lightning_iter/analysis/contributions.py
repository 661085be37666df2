"""Residual-stream norms and sublayer contributions per effective depth (seed 004 §4.3 Fig. 4; seed 000 Fig. 6, 11).

For depth i: attention relative contribution ||a_i|| / ||h_i|| and cosine(a_i, h_i); MLP the same against
the residual it reads, h_i + a_i; the whole layer ||a_i + m_i|| / ||h_i||. Token-level values, averaged
over all tokens of all examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import Transformer

METRICS = ("residual_norm", "attn_relative", "attn_cosine", "mlp_relative", "mlp_cosine", "layer_relative")


@torch.no_grad()
def sublayer_contributions(model: Transformer, tokens: torch.Tensor, batch_size: int = 8) -> dict[str, list[float]]:
    """Mean per-token metrics (see module docstring) per effective depth; `residual_norm` has L+1 entries (h_0..h_L).

    Streams over batches and depths (`model.walk`): only the current depth's h, a, m are alive, never a trace."""
    device = next(model.parameters()).device
    sums = {name: torch.zeros(model.depth + (name == "residual_norm"), dtype=torch.float64) for name in METRICS}
    count = 0
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size].to(device)
        h0 = model.embed(batch)
        cos, sin = model.rope_tables(batch.shape[1], batch.device, h0.dtype)
        sums["residual_norm"][0] += float(h0.float().norm(dim=-1).sum())
        for step in model.walk(h0, cos, sin, parts=True):
            i, h, a, m = step.depth, step.h.float(), step.attn.float(), step.mlp.float()
            sums["residual_norm"][i + 1] += float(step.out.float().norm(dim=-1).sum())
            norm_h = h.norm(dim=-1).clamp_min(1e-12)
            sums["attn_relative"][i] += float((a.norm(dim=-1) / norm_h).sum())
            sums["attn_cosine"][i] += float(F.cosine_similarity(a, h, dim=-1).sum())
            mid = h + a
            sums["mlp_relative"][i] += float((m.norm(dim=-1) / mid.norm(dim=-1).clamp_min(1e-12)).sum())
            sums["mlp_cosine"][i] += float(F.cosine_similarity(m, mid, dim=-1).sum())
            sums["layer_relative"][i] += float(((a + m).norm(dim=-1) / norm_h).sum())
        count += batch.shape[0] * batch.shape[1]
    return {name: (value / count).tolist() for name, value in sums.items()}
