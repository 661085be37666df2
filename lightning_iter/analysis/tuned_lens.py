"""Tuned lens (Belrose et al. 2023; seed 004 §4.1, App. B): per-depth affine translators to the final residual.

Translator i maps h_i (the residual after effective depth i-1, i = 1..L) to the input of the final norm:
T_i(h) = h + W_i h + b_i with W_i = 0, b_i = 0 at start (the identity). Trained by Adam on held-out
tokens to minimise KL(final || early exit); logits are the model's own final norm + unembedding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..errors import ConfigError
from ..model import Transformer
from .trace import trace


class TunedLens(nn.Module):
    """One affine translator per residual h_1..h_L of a plan of effective depth L."""

    def __init__(self, depth: int, d_model: int, plan: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.plan = tuple(plan) if plan is not None else None
        self.weight = nn.Parameter(torch.zeros(depth, d_model, d_model))
        self.bias = nn.Parameter(torch.zeros(depth, d_model))

    @property
    def depth(self) -> int:
        return self.weight.shape[0]

    def forward(self, i: int, hidden: torch.Tensor) -> torch.Tensor:
        """Translate residual h_i (i in 1..L) to the final residual's space, in fp32."""
        h = hidden.float()
        return h + h @ self.weight[i - 1].T + self.bias[i - 1]

    def save(self, path: str | Path) -> Path:
        metadata = {"depth": str(self.depth), "d_model": str(self.weight.shape[1]), "plan": json.dumps(self.plan)}
        tensors = {
            "weight": self.weight.detach().float().cpu().contiguous(),
            "bias": self.bias.detach().float().cpu().contiguous(),
        }
        return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))

    @classmethod
    def load(cls, path: str | Path, model: Transformer) -> TunedLens:
        """Translators saved by `save`, checked against `model`'s effective depth and width."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"--tuned_lens_path={path} does not exist: give a tuned_lens.safetensors written by analyze"
            )
        tensors = load_file(str(path))
        weight, bias = tensors.get("weight"), tensors.get("bias")
        if weight is None or bias is None or weight.shape != (model.depth, model.config.d_model, model.config.d_model):
            shape = None if weight is None else tuple(weight.shape)
            raise ConfigError(
                f"--tuned_lens_path={path} holds translators of shape {shape}: this model needs "
                f"({model.depth}, {model.config.d_model}, {model.config.d_model}) (effective depth, d_model, d_model)"
            )
        lens = cls(model.depth, model.config.d_model, model.plan)
        lens.load_state_dict({"weight": weight, "bias": bias})
        return lens.to(next(model.parameters()).device)


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Stop gradients into the model's weights (only the translators train), then restore the flags."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def train_tuned_lens(
    model: Transformer,
    tokens: torch.Tensor,
    steps: int = 200,
    lr: float = 1e-3,
    batch_tokens: int = 512,
    batch_size: int = 8,
    seed: int = 0,
    progress: bool = False,
) -> tuple[TunedLens, list[float]]:
    """Fit translators of h_1..h_{L-1} on `tokens` [N, T]; returns the lens and the mean per-depth KL at every step."""
    device = next(model.parameters()).device
    with torch.no_grad():
        stored: list[list[torch.Tensor]] = [[] for _ in range(model.depth + 1)]
        for start in range(0, len(tokens), batch_size):
            tr = trace(model, tokens[start : start + batch_size].to(device), parts=False)
            for i, h in enumerate(tr.residuals):
                stored[i].append(h.flatten(0, 1))
            del tr
        residuals = [torch.cat(chunks) for chunks in stored]
    lens = TunedLens(model.depth, model.config.d_model, model.plan).to(device)
    optimizer = torch.optim.Adam(lens.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    n_tokens = len(residuals[0])
    dtype = residuals[-1].dtype
    with frozen(model):
        for _ in tqdm(range(steps), desc="tuned lens", disable=not progress, leave=False):
            idx = torch.randint(n_tokens, (min(batch_tokens, n_tokens),), generator=generator).to(device)
            with torch.no_grad():
                target = torch.log_softmax(model.unembed(residuals[-1][idx]).float(), dim=-1)
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            # h_L already is the final norm's input: its translator stays the identity. Training it would only
            # let Adam amplify float round-off of a zero gradient into random steps.
            for i in range(1, model.depth):
                logits = model.unembed(lens(i, residuals[i][idx]).to(dtype)).float()
                loss = F.kl_div(torch.log_softmax(logits, dim=-1), target, log_target=True, reduction="batchmean")
                loss.backward()  # per depth, so only one depth's vocabulary-sized graph is alive at a time
                total += float(loss.detach())
            if model.depth > 1:
                optimizer.step()
            history.append(total / max(model.depth - 1, 1))
    return lens.eval(), history


@torch.no_grad()
def lens_metrics(
    model: Transformer, lens: TunedLens, tokens: torch.Tensor, batch_size: int = 8, top_k: int = 5
) -> dict[str, list[float]]:
    """Per residual h_1..h_L: KL(final || exit) and top-k overlap with the final prediction, tuned and logit lens."""
    device = next(model.parameters()).device
    names = ("kl_tuned", "kl_logit", "top5_tuned", "top5_logit")
    sums = {name: torch.zeros(model.depth) for name in names}
    count = 0
    for start in range(0, len(tokens), batch_size):
        tr = trace(model, tokens[start : start + batch_size].to(device), parts=False)
        final = torch.log_softmax(model.unembed(tr.residuals[-1]).float(), dim=-1)
        final_top = final.topk(top_k, dim=-1).indices
        for i in range(1, model.depth + 1):
            for kind, hidden in (
                ("tuned", lens(i, tr.residuals[i]).to(tr.residuals[i].dtype)),
                ("logit", tr.residuals[i]),
            ):
                logp = torch.log_softmax(model.unembed(hidden).float(), dim=-1)
                kl = (final.exp() * (final - logp)).sum(-1)
                top = logp.topk(top_k, dim=-1).indices
                overlap = (top[..., :, None] == final_top[..., None, :]).any(-1).float().mean(-1)
                sums[f"kl_{kind}"][i - 1] += float(kl.sum())
                sums[f"top5_{kind}"][i - 1] += float(overlap.sum())
                del logp
        count += final.shape[0] * final.shape[1]
        del tr, final
    return {name: (value / count).tolist() for name, value in sums.items()}
