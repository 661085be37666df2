"""Block weight similarity (seed 004 §4.4, Fig. 7a): cosine similarity of the concatenated FFN weights of blocks.

Blocks are runs of `block_size` consecutive effective depths of the plan, so a looped or repeated plan
compares the very same weights (similarity 1) and a freshly grown copy matches its source exactly.
"""

from __future__ import annotations

import torch

from ..errors import check_int
from ..model import Transformer


@torch.no_grad()
def block_similarity(model: Transformer, block_size: int = 1) -> dict[str, object]:
    """`{"blocks": [[depths...]], "similarity": [[cos]]}` over blocks of `block_size` plan positions."""
    check_int("--block_size", block_size, 1, model.depth)
    blocks = [list(range(s, min(s + block_size, model.depth))) for s in range(0, model.depth, block_size)]
    blocks = [b for b in blocks if len(b) == block_size]  # a trailing partial block has no equal-sized partner

    # dot(block_i, block_j) of the concatenated vectors = sum over positions k of dot(FFN at i_k, FFN at j_k),
    # so only the unique layers' pairwise dot products are needed: nothing of model size is ever concatenated.
    def ffn(index: int) -> list[torch.Tensor]:
        mlp = model.layers[index].mlp
        return [mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight]

    n = model.n_unique
    dots = torch.zeros(n, n, dtype=torch.float64)
    for u in range(n):
        for v in range(u, n):
            value = sum(float(torch.dot(a.flatten().double(), b.flatten().double())) for a, b in zip(ffn(u), ffn(v)))
            dots[u, v] = dots[v, u] = value
    plan = torch.tensor(model.plan)
    index = torch.tensor(blocks)  # [n_blocks, block_size] effective depths
    gram = dots[plan[index][:, None, :], plan[index][None, :, :]].sum(-1)  # [n_blocks, n_blocks]
    norms = gram.diagonal().sqrt().clamp_min(1e-30)
    similarity = gram / norms[:, None] / norms[None, :]
    return {"block_size": block_size, "blocks": blocks, "similarity": similarity.float().tolist()}
