"""`lightning_iter sft_sweep`: fine-tune on N variable-assignment examples, evaluate after each N (JSON + PNG).

lightning_iter sft_sweep --ckpt_path last.ckpt --sizes 64,128,256 --untie false --out runs/sft
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ArgumentParser

from ..eval.protocol import DEFAULT_ITEMS
from ._common import add_model_arguments, load_from_arguments, parse_list


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter sft_sweep", description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--sizes", type=str, default="64,128,256", help="training-set sizes N (comma-separated)")
    parser.add_argument("--task", type=str, default="assign_code", help="variable-assignment task to fine-tune on")
    parser.add_argument("--depths", type=str, default="1,2", help="depths, N split equally over them")
    parser.add_argument("--shots", type=int, default=5, help="solved examples in each training and test prompt")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the N examples")
    parser.add_argument("--batch_size", type=int, default=16, help="fine-tuning batch size")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (constant)")
    parser.add_argument("--n_items", type=int, default=DEFAULT_ITEMS, help="test items per depth after each N")
    parser.add_argument(
        "--untie",
        type=bool,
        default=False,
        help="give each plan position its own copy of its layer before fine-tuning (looped models)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the training items, their order and the test set")
    parser.add_argument(
        "--scoring",
        type=str,
        default="lm_eval",
        help="'lm_eval' (' ' + choice, as lm-evaluation-harness and the papers) or 'eos' (choice + EOS)",
    )
    parser.add_argument("--out", type=str, default="runs/sft_sweep", help="output folder for sft_sweep.json/.png")
    parser.add_argument("--progress", type=bool, default=True, help="show progress bars")
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    import torch

    from ..eval import report
    from ..eval.sft_sweep import sft_sweep

    loaded = load_from_arguments(cfg)
    torch.manual_seed(cfg.seed)
    result = sft_sweep(
        loaded.model,
        loaded.tokenizer,
        sizes=parse_list(cfg.sizes, "sizes", int) or [],
        task=cfg.task,
        depths=parse_list(cfg.depths, "depths", int) or [1, 2],
        shots=cfg.shots,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        n_items=cfg.n_items,
        untie=cfg.untie,
        seed=cfg.seed,
        progress=cfg.progress,
        scoring=cfg.scoring,
    )
    result.update(ckpt_path=cfg.ckpt_path, repeat=cfg.repeat)
    out = Path(cfg.out)
    json_path = report.write_json(out / "sft_sweep.json", result)
    from ..run_label import checkpoint_label

    title = f"SFT on {cfg.task}: {checkpoint_label(cfg.ckpt_path, loaded.info.get('global_step'), cfg.repeat)}"
    title += (" (untied)" if cfg.untie else "") + f" ({cfg.scoring} scoring)"
    png_path = report.line_chart(
        result["curves"],
        out / "sft_sweep.png",
        title,
        "fine-tuning examples N (log scale)",
        chance=result["chance"],
        logx=True,
        n_items=cfg.n_items,
    )
    names = list(result["curves"])
    print("| N | " + " | ".join(f"{n} acc %" for n in names) + " | final train loss |")
    print("|---:|" + "---:|" * (len(names) + 1))
    for i, n in enumerate(result["sizes"]):
        loss = result["final_loss"].get(n)
        print(
            f"| {n} | "
            + " | ".join(f"{100 * result['curves'][k][i][1]:.1f}" for k in names)
            + f" | {'–' if loss is None else f'{loss:.3f}'} |"
        )
    print(f"\ntest items scored with {cfg.scoring} scoring")
    print(f"[lightning_iter] sft sweep: {json_path}, {png_path}")
