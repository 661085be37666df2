"""Skip interventions and their measured effects: the depth score and the future/current effect heatmaps.

Definitions from seed 004 App. B (after Csordás et al. 2025), all per effective depth:

* *future* setting: erase the (sub)layer's contribution only at positions <= t and measure only at
  positions > t (several boundaries t); *current* setting: erase everywhere, measure everywhere.
* *propagated*: the intervened residual runs through all later layers; *local*: the stored contribution
  of source s is subtracted from the input of one target l only and the change is not rolled forward.
* *relative change* of a later layer: ||u'_l - u_l|| / ||u_l|| for its residual update u_l = h_{l+1} - h_l.
* *aggregation*: maximum over examples, eligible positions and boundaries.
* *depth score*: `mean_dout[s]` is the across-examples mean of the maximum L2 change of the softmaxed
  output at future tokens when layer s is skipped; normalised over layers, its expected layer index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, check_choice
from ..model import Transformer
from .trace import run_from, trace

MODES = ("future", "current")
COMPONENTS = ("layer", "attn")


def default_boundaries(seq_len: int, n: int = 4) -> list[int]:
    """`n` boundary positions spread evenly inside the sequence (each leaves later tokens to measure)."""
    return sorted({min(max(round(seq_len * k / (n + 1)), 0), seq_len - 2) for k in range(1, n + 1)})


def check_boundaries(boundaries: Sequence[int], seq_len: int) -> list[int]:
    bad = [t for t in boundaries if not (isinstance(t, int) and 0 <= t <= seq_len - 2)]
    if bad or not boundaries:
        raise ConfigError(
            f"--boundaries={list(boundaries)!r} is not allowed: give positions 0..{seq_len - 2} "
            "(each needs later tokens)"
        )
    return sorted(set(boundaries))


def _settings(mode: str, boundaries: Sequence[int], seq_len: int, device: torch.device):
    """(keep mask [T], measured positions [T] bool) per boundary; current mode has one setting."""
    check_choice("mode", mode, MODES)
    pos = torch.arange(seq_len, device=device)
    if mode == "current":
        return [(torch.zeros(seq_len, device=device), torch.ones(seq_len, dtype=torch.bool, device=device))]
    return [((pos > t).float(), pos > t) for t in check_boundaries(boundaries, seq_len)]


def _relative(new: torch.Tensor, old: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """||new - old|| / ||old|| per position at `where` -> [B, n]; an update that is zero gives 0 change."""
    new, old = new[:, where].float(), old[:, where].float()
    return (new - old).norm(dim=-1) / old.norm(dim=-1).clamp_min(1e-12)


def _batches(tokens: torch.Tensor, batch_size: int):
    return [tokens[i : i + batch_size] for i in range(0, len(tokens), batch_size)]


@torch.no_grad()
def skip_effects(
    model: Transformer,
    tokens: torch.Tensor,
    mode: str = "future",
    component: str = "layer",
    boundaries: Sequence[int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Propagated single-(sub)layer skips: `dout` [N, L] (max L2 change of softmaxed output per example) and
    `propagated` [L, L] (source × target max relative change of later layers' updates; NaN where target <= source)."""
    check_choice("component", component, COMPONENTS)
    n, seq_len = tokens.shape
    depth = model.depth
    device = next(model.parameters()).device
    settings = _settings(mode, boundaries or default_boundaries(seq_len), seq_len, device)
    dout = torch.zeros(n, depth)
    prop = torch.zeros(depth, depth)
    steps = tqdm(
        total=len(_batches(tokens, batch_size)) * depth,
        desc=f"skip effects ({mode}, {component})",
        disable=not progress,
        leave=False,
    )
    row = 0
    for batch in _batches(tokens, batch_size):
        batch = batch.to(device)
        tr = trace(model, batch, parts=False)  # residuals only
        probs = torch.softmax(model.unembed(tr.residuals[-1]).float(), dim=-1)
        for s in range(depth):
            for keep, where in settings:
                masks = {"keep": keep} if component == "layer" else {"keep_attn": keep}
                final, later = run_from(model, tr.residuals[s], s, tr, updates=True, **masks)
                new_probs = torch.softmax(model.unembed(final[:, where]).float(), dim=-1)
                change = (new_probs - probs[:, where]).norm(dim=-1).amax(dim=-1).cpu()
                del new_probs
                dout[row : row + len(batch), s] = torch.maximum(dout[row : row + len(batch), s], change)
                for j, update in enumerate(later):
                    target = s + 1 + j
                    rel = float(_relative(update, tr.update(target), where).max())
                    prop[s, target] = max(float(prop[s, target]), rel)
            steps.update()
        row += len(batch)
        del tr, probs
    steps.close()
    prop[torch.ones(depth, depth).tril().bool()] = float("nan")
    return {"dout": dout, "propagated": prop}


@torch.no_grad()
def local_effects(
    model: Transformer,
    tokens: torch.Tensor,
    mode: str = "future",
    boundaries: Sequence[int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> torch.Tensor:
    """[L, L] max relative change of target l's update when source s's stored contribution is removed from
    l's input only (seed 004 App. B, seed 000 App. J); NaN where target <= source."""
    n, seq_len = tokens.shape
    depth = model.depth
    device = next(model.parameters()).device
    settings = _settings(mode, boundaries or default_boundaries(seq_len), seq_len, device)
    local = torch.zeros(depth, depth)
    steps = tqdm(
        total=len(_batches(tokens, batch_size)) * depth,
        desc=f"local effects ({mode})",
        disable=not progress,
        leave=False,
    )
    for batch in _batches(tokens, batch_size):
        tr = trace(model, batch.to(device), parts=False)  # residuals only
        for s in range(depth):
            contribution = tr.update(s)
            for target in range(s + 1, depth):
                for keep, where in settings:
                    h = tr.residuals[target] - contribution * (1 - keep).to(contribution.dtype)[:, None]
                    step = next(model.walk(h, tr.cos, tr.sin, plan=tr.plan, start=target, stop=target + 1))
                    update = step.out - h
                    change = float(_relative(update, tr.update(target), where).max())
                    local[s, target] = max(float(local[s, target]), change)
            steps.update()
        del tr
    steps.close()
    local[torch.ones(depth, depth).tril().bool()] = float("nan")
    return local


def depth_score(dout: torch.Tensor) -> dict[str, object]:
    """Seed 004 App. B: mean over examples of `dout`, normalised over layers, and its expected layer index."""
    mean = dout.mean(dim=0)
    total = float(mean.sum())
    depth = len(mean)
    weights = (mean / total) if total > 0 else torch.full_like(mean, float("nan"))
    score = float((weights * torch.arange(depth, dtype=weights.dtype)).sum()) if total > 0 else float("nan")
    return {
        "mean_dout": mean.tolist(),
        "weights": weights.tolist(),
        "depth_score": score,
        "depth_score_normalized": score / (depth - 1) if depth > 1 else float("nan"),
    }
