"""Inference-scaling sweep (seed 000 §4, Fig. 2 left): a metric for r = 0..R extra passes of one block.

The block is a range of plan positions of the loaded model, repeated with `repeat_block` (no weights
copied); every r runs on the same held-out batches / test items, so the curves are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..atomic import save_figure_atomic, write_json_atomic
from ..errors import ConfigError, check_int
from ..model import inference_flops_per_token
from ..model.plan import repeat_block
from ..model.transformer import Transformer

Measure = Callable[[Transformer], dict[str, Any]]


def nll_measure(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: str | torch.device = "cpu") -> Measure:
    """Held-out NLL (`eval.nll.heldout_nll`) on a fixed list of batches: keys `nll`, `ppl`."""
    from .nll import heldout_nll

    fixed = list(batches)
    if not fixed:
        raise ConfigError("the held-out split gave no batches: the sweep needs at least one (inputs, targets) batch")

    def measure(model: Transformer) -> dict[str, Any]:
        out = heldout_nll(model, fixed, device=device)
        return {"nll": float(out["loss"]), "ppl": float(out["ppl"])}

    return measure


def primitives_measure(tokenizer: Any, **options: Any) -> Measure:
    """Reasoning-primitive accuracy (`eval.primitives.evaluate_primitives`): `primitives_mean` and per task@depth."""
    from .primitives import evaluate_primitives

    def measure(model: Transformer) -> dict[str, Any]:
        out = evaluate_primitives(model, tokenizer, **{"progress": False, **options})
        return {"primitives_mean": float(out["mean"]), "primitives": dict(out["accuracy"])}

    return measure


def repeat_sweep(
    model: Transformer,
    start: int,
    end: int,
    max_extra: int,
    measures: Sequence[Measure],
    seq_len: int = 2048,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every measure with plan positions start..end-1 repeated r = 0..max_extra extra times."""
    check_int("--max_extra", max_extra, 0)
    base = model.plan
    repeat_block(base, start, end, 0)  # validates the block against the current plan
    rows = []
    for extra in tqdm(range(max_extra + 1), desc="repeat sweep", disable=not progress):
        plan = repeat_block(base, start, end, extra)
        with model.using_plan(plan):
            row: dict[str, Any] = {
                "extra": extra,
                "plan": list(plan),
                "depth": len(plan),
                "inference_flops_per_token": inference_flops_per_token(model.config, len(plan), seq_len),
            }
            for measure in measures:
                row.update(measure(model))
        rows.append(row)
    return {
        "block": [start, end],
        "base_plan": list(base),
        "n_unique": model.n_unique,
        "rows": rows,
        "accuracy_unit": "fraction",  # primitives and primitives_mean are 0..1; tables and figures show %
    }


def _chance_lines(ax: Any, names: list[str]) -> None:
    """A dotted chance level per distinct value among the `task@depth` curves, in the legend (% of items)."""
    from .primitives import chance

    levels: dict[float, list[str]] = {}
    for name in names:
        levels.setdefault(chance(name.split("@")[0]), []).append(name.split("@")[0])
    for level, tasks in sorted(levels.items()):
        label = f"chance {100 * level:.0f} % ({', '.join(dict.fromkeys(tasks))})"
        ax.axhline(100 * level, color="grey", linestyle=":", linewidth=1, label=label)


def write_sweep(result: dict[str, Any], out_dir: str | Path, title: str = "") -> tuple[Path, Path]:
    """Write `repeat_sweep.json` and `repeat_sweep.png` (one panel per metric against extra passes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "repeat_sweep.json", out / "repeat_sweep.png"
    write_json_atomic(json_path, result)
    rows = result["rows"]
    extras = [row["extra"] for row in rows]
    panels = [k for k in ("nll", "primitives_mean") if k in rows[0]]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1), 4), squeeze=False)
    start, end = result["block"]
    for ax, key in zip(axes[0], panels):
        if key == "primitives_mean":
            for name in rows[0]["primitives"]:
                ax.plot(extras, [100 * row["primitives"][name] for row in rows], marker=".", alpha=0.5, label=name)
            ax.plot(extras, [100 * row[key] for row in rows], marker="o", color="black", linewidth=2, label="mean")
            _chance_lines(ax, list(rows[0]["primitives"]))
            ax.set_ylabel("reasoning-primitive accuracy (%)")
            ax.set_ylim(0, 100)
            ax.legend(fontsize=7)
        else:
            ax.plot(extras, [row[key] for row in rows], marker="o")
            ax.set_ylabel("held-out NLL")
        ax.set_xlabel(f"extra passes of plan positions {start}..{end - 1}")
        ax.set_xticks(extras)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "inference-time block repetition", fontsize=10)
    fig.tight_layout()
    save_figure_atomic(fig, png_path)
    return json_path, png_path
