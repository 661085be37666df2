"""Tuned lens (Belrose et al. 2023; seed 004 §4.1, App. B): per-depth affine translators to the final residual.

Translator i maps h_i (the residual after effective depth i-1, i = 1..L) to the input of the final norm:
T_i(h) = h + W_i h + b_i with W_i = 0, b_i = 0 at start (the identity); logits are the model's own final
norm + unembedding. Training follows the tuned-lens library (`tuned_lens/scripts/train_loop.py`,
`ingredients.py`): KL(final || lens) at the same position, summed over depths, SGD with Nesterov momentum
at lr = lr_scale·(1 - momentum), weight decay 1e-3 (towards the identity), linear decay to 0 after an
optional warm-up, gradient norm clipped to 1, 250 steps × 2^18 tokens. h_L needs no translator: it already
is the final norm's input, so T_L stays the identity (the library has none for the last layer either).
Training streams: micro-batches of `batch_size` rows are traced, used and dropped (gradient accumulation).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..atomic import atomic_write, write_json_atomic
from ..errors import ConfigError, check_float, check_int
from ..model import Transformer
from .trace import trace


@dataclass(frozen=True)
class LensRecipe:
    """Training hyper-parameters; the defaults are the tuned-lens library's (SGD branch)."""

    steps: int = 250
    tokens_per_step: int = 2**18
    lr_scale: float = 1.0  # SGD lr = lr_scale * (1 - momentum): the library undoes PyTorch's 1/(1-β) step scaling
    momentum: float = 0.9
    weight_decay: float = 1e-3
    warmup_steps: int = 0  # the library's SGD default; then linear decay to 0 at `steps`
    clip: float = 1.0

    def __post_init__(self) -> None:
        check_int("--lens_steps", self.steps, 1)
        check_int("--lens_tokens_per_step", self.tokens_per_step, 1)
        check_float("--lens_lr_scale", self.lr_scale, above=0.0)
        check_float("--lens_momentum", self.momentum, 0.0, 0.999, allowed="it must be a number in [0, 1)")
        check_float("--lens_weight_decay", self.weight_decay, 0.0)
        check_int("--lens_warmup_steps", self.warmup_steps, 0, self.steps - 1)
        check_float("--lens_clip", self.clip, above=0.0)

    def rows_per_step(self, seq_len: int) -> int:
        """Rows of `seq_len` tokens one optimizer step accumulates: at least `tokens_per_step` tokens."""
        return max(1, math.ceil(self.tokens_per_step / seq_len))

    @property
    def lr(self) -> float:
        return self.lr_scale * (1 - self.momentum)

    def factor(self, step: int) -> float:
        """LR multiplier at optimizer step `step` (0-based): linear warm-up, then linear decay to 0 at `steps`."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return max(0.0, (self.steps - step) / (self.steps - self.warmup_steps))


def model_identity(model: Transformer) -> dict[str, Any]:
    """What a lens is only valid for: shape, plan and a fingerprint of the final norm + unembedding weights."""
    digest = hashlib.sha256()
    head = model.embed_tokens if model.lm_head is None else model.lm_head
    for tensor in (model.norm.weight, head.weight):
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return {
        "depth": model.depth,
        "d_model": int(model.config.d_model),
        "vocab_size": int(model.config.vocab_size),
        "n_unique": model.n_unique,
        "plan": list(model.plan),
        "preset": getattr(model.config, "name", None),
        "unembed_sha256": digest.hexdigest()[:16],
    }


def recipe_path(path: str | Path) -> Path:
    """The JSON written next to a lens: `X.safetensors` -> `X.recipe.json`."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".recipe.json")


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

    def save(self, path: str | Path, info: dict[str, Any] | None = None) -> Path:
        """Translators as safetensors, and `info` (recipe, model identity, data) as `X.recipe.json` beside them."""
        metadata = {"depth": str(self.depth), "d_model": str(self.weight.shape[1]), "plan": json.dumps(self.plan)}
        tensors = {
            "weight": self.weight.detach().float().cpu().contiguous(),
            "bias": self.bias.detach().float().cpu().contiguous(),
        }
        written = atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        if info is not None:
            write_json_atomic(recipe_path(path), info)
        return written

    @classmethod
    def load(cls, path: str | Path, model: Transformer) -> TunedLens:
        """Translators saved by `save`, checked against `model`'s effective depth and width (one-line error)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"--lens={path} does not exist: give a tuned_lens.safetensors written by analyze")
        try:
            tensors = load_file(str(path))
        except Exception as exc:  # safetensors raises its own types for a file that is not one
            raise ConfigError(f"--lens={path} is not a safetensors file written by analyze ({exc})") from None
        weight, bias = tensors.get("weight"), tensors.get("bias")
        want = (model.depth, model.config.d_model, model.config.d_model)
        if weight is None or bias is None or tuple(weight.shape) != want or tuple(bias.shape) != want[:2]:
            shape = None if weight is None else tuple(weight.shape)
            raise ConfigError(
                f"--lens={path} holds translators of shape {shape}: this model needs {want} "
                "(effective depth, d_model, d_model); train a lens for it (omit --lens)"
            )
        _warn_if_other_model(path, model)
        lens = cls(model.depth, model.config.d_model, model.plan)
        lens.load_state_dict({"weight": weight, "bias": bias})
        return lens.to(next(model.parameters()).device)


def _warn_if_other_model(path: Path, model: Transformer) -> None:
    """Same shape but other weights or plan: usable (e.g. a later checkpoint of the run), so a warning, not an error."""
    sidecar = recipe_path(path)
    if not sidecar.is_file():
        return
    saved = json.loads(sidecar.read_text()).get("model", {})
    ours = model_identity(model)
    differs = [k for k in ("plan", "unembed_sha256") if k in saved and saved[k] != ours[k]]
    if differs:
        warnings.warn(
            f"--lens={path} was trained for a model with another {' and '.join(differs)} "
            f"({', '.join(f'{k}={saved[k]}' for k in differs)}; this model: "
            f"{', '.join(f'{k}={ours[k]}' for k in differs)}): its translators may not fit",
            stacklevel=2,
        )


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


def _row_stream(n_rows: int, generator: torch.Generator) -> Iterator[int]:
    """Row indices, shuffled once per pass over the data (the library shuffles once and stops; we cycle)."""
    while True:
        yield from torch.randperm(n_rows, generator=generator).tolist()


def train_tuned_lens(
    model: Transformer,
    tokens: torch.Tensor,
    recipe: LensRecipe | None = None,
    batch_size: int = 8,
    seed: int = 0,
    progress: bool = False,
) -> tuple[TunedLens, dict[str, Any]]:
    """Fit translators of h_1..h_{L-1} on `tokens` [N, T] with `recipe`.

    Returns the lens and a log: `loss_history` (mean per-depth KL per step), `kl_per_depth_last` and the
    token counts (`tokens_seen`, `passes` over the data: above 1 means rows were reused).
    """
    recipe = recipe or LensRecipe()
    check_int("--batch_size", batch_size, 1)
    if tokens.dim() != 2 or len(tokens) == 0:
        raise ConfigError(f"tuned-lens training data has shape {tuple(tokens.shape)}: need [N >= 1, T] token rows")
    device = next(model.parameters()).device
    depth = model.depth
    rows_per_step = recipe.rows_per_step(tokens.shape[1])
    lens = TunedLens(depth, model.config.d_model, model.plan).to(device)
    optimizer = torch.optim.SGD(
        lens.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True, weight_decay=recipe.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, recipe.factor)
    rows = _row_stream(len(tokens), torch.Generator().manual_seed(seed))
    history: list[float] = []
    per_depth = torch.zeros(depth)
    dtype = next(model.parameters()).dtype
    with frozen(model):
        for _ in tqdm(range(recipe.steps), desc="tuned lens", disable=not progress, leave=False):
            optimizer.zero_grad(set_to_none=True)
            per_depth.zero_()
            left = rows_per_step
            while left > 0:
                index = [next(rows) for _ in range(min(batch_size, left))]
                share = len(index) / rows_per_step  # the step's loss is the mean over its tokens
                left -= len(index)
                tr = trace(model, tokens[index].to(device), parts=False)
                with torch.no_grad():
                    target = torch.log_softmax(model.unembed(tr.residuals[-1]).float(), dim=-1)
                for i in range(1, depth):  # one depth's vocabulary-sized graph alive at a time (as the library)
                    logits = model.unembed(lens(i, tr.residuals[i]).to(dtype)).float()
                    kl = (target.exp() * (target - torch.log_softmax(logits, dim=-1))).sum(-1).mean()
                    (kl * share).backward()
                    per_depth[i - 1] += float(kl.detach()) * share
                del tr, target
            if depth > 1:
                torch.nn.utils.clip_grad_norm_(lens.parameters(), recipe.clip)
                optimizer.step()
                schedule.step()
            history.append(float(per_depth[: depth - 1].mean()) if depth > 1 else 0.0)
    seen = recipe.steps * rows_per_step * tokens.shape[1]
    log = {
        "loss_history": history,
        "kl_per_depth_last": per_depth.tolist(),
        "rows_per_step": rows_per_step,
        "tokens_per_step": rows_per_step * tokens.shape[1],
        "tokens_seen": seen,
        "passes": seen / tokens.numel(),
    }
    return lens.eval(), log


def lens_info(model: Transformer, recipe: LensRecipe, log: dict[str, Any], data: str) -> dict[str, Any]:
    """The JSON saved beside a lens: recipe, the model it fits, where its data came from, how much was used."""
    return {
        "recipe": {**asdict(recipe), "optimizer": "SGD (Nesterov)", "lr": recipe.lr, "loss": "KL(final || lens)"},
        "model": model_identity(model),
        "data": data,
        **{k: log[k] for k in ("tokens_per_step", "tokens_seen", "passes")},
        "final_loss": log["loss_history"][-1] if log["loss_history"] else None,
    }


def _same_length_batches(tokens: torch.Tensor | Sequence[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """[B, T] batches of up to `batch_size` rows of one length (prompts of different lengths are not padded)."""
    by_length: dict[int, list[torch.Tensor]] = {}
    for row in tokens:
        by_length.setdefault(len(row), []).append(row)
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            yield torch.stack(rows[start : start + batch_size])


@torch.no_grad()
def lens_metrics(
    model: Transformer,
    lens: TunedLens,
    tokens: torch.Tensor | Sequence[torch.Tensor],
    batch_size: int = 8,
    top_k: int = 5,
) -> dict[str, list[float]]:
    """Per residual h_1..h_L: KL(final || exit) and top-k overlap with the final prediction, tuned and logit lens,
    averaged over every token of `tokens` (rows [N, T], or 1-D prompts of any lengths).

    Streams over batches and depths: only per-depth sums are kept, each vocabulary-sized tensor is dropped at once."""
    device = next(model.parameters()).device
    names = ("kl_tuned", "kl_logit", "top5_tuned", "top5_logit")
    sums = {name: torch.zeros(model.depth, dtype=torch.float64) for name in names}
    count = 0
    for batch in _same_length_batches(tokens, batch_size):
        tr = trace(model, batch.to(device), parts=False)
        final = torch.log_softmax(model.unembed(tr.residuals[-1]).float(), dim=-1)
        final_p = final.exp()
        final_top = final.topk(top_k, dim=-1).indices
        for i in range(1, model.depth + 1):
            for kind, hidden in (
                ("tuned", lens(i, tr.residuals[i]).to(tr.residuals[i].dtype)),
                ("logit", tr.residuals[i]),
            ):
                logp = torch.log_softmax(model.unembed(hidden).float(), dim=-1)
                kl = (final_p * (final - logp)).sum(-1)
                top = logp.topk(top_k, dim=-1).indices
                overlap = (top[..., :, None] == final_top[..., None, :]).any(-1).float().mean(-1)
                sums[f"kl_{kind}"][i - 1] += float(kl.sum())
                sums[f"top5_{kind}"][i - 1] += float(overlap.sum())
                del logp
        count += final.shape[0] * final.shape[1]
        del tr, final, final_p
    return {name: (value / count).tolist() for name, value in sums.items()}


def normalised_accuracy(accuracy: list[float]) -> list[float | None]:
    """Early-exit accuracy divided by the final depth's (the papers' plot: seed 004 Fig. 1C, seed 000 Fig. 5C)."""
    if not accuracy or accuracy[-1] <= 0:
        return [None] * len(accuracy)
    return [a / accuracy[-1] for a in accuracy]
