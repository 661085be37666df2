"""Every bad file and flag of issue 16 gives exit 2 and one `lightning_iter: error:` line naming the field.

Table-driven: each row is a command line (with `{placeholders}` for the files `build_files` writes) and the
field its one error line must name. Rows marked `warn` are accepted with a warning that names the field and
says what will happen; `announce` rows are legitimate changes at resume, announced on stdout. The commands run
in-process through `lightning_iter.cli.main` (a few seconds each on tiny models).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

TINY = """\
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  max_steps: 2
  val_check_interval: 2
  check_val_every_n_epoch: null
  num_sanity_val_steps: 0
  log_every_n_steps: 1
  enable_progress_bar: false
  enable_model_summary: false
  logger: false
  default_root_dir: {root}
model:
  arch: tiny
  arch_overrides: {{n_layers: {n_layers}, d_model: 32, n_heads: 2, n_kv_heads: 1, ffn_dim: 64, max_seq_len: 64}}
  depth: {depth}
  optimizer:
    class_path: torch.optim.AdamW
    init_args: {{lr: 0.003}}
  warmup_steps: 1
data:
  class_path: lightning_iter.data.PrimitivesDataModule
  init_args: {{seq_len: 16, batch_size: 2, val_size: 2}}
"""
DEPTHS = {
    "baseline": ("{name: baseline}", 2),
    "lidas": ("{name: lidas, block_size: 1, initial_depth: 1, horizon: 2}", 2),
    "loop": ("{name: loop, layers: 1, repeats: 2, encode: 1}", 2),
}


@dataclass(frozen=True)
class Row:
    """One bad input: `argv` (placeholders filled from `build_files`), the field its message names, and `expect`:
    `error` (exit 2, one error line), `warn` (exit 0, a warning naming the field), `announce` (exit 0, stdout)."""

    category: str
    name: str
    argv: tuple[str, ...]
    field: str
    expect: str = "error"


def fit(*args: str, config: str = "{baseline_cfg}") -> tuple[str, ...]:
    return ("fit", "--config", config, *args)


def resume(ckpt: str, *args: str, config: str = "{baseline_cfg}") -> tuple[str, ...]:
    return fit("--ckpt_path", ckpt, "--trainer.max_steps", "3", *args, config=config)


def streaming(source: str) -> tuple[str, ...]:
    data = ("--data", "lightning_iter.data.StreamingDataModule", "--data.sources", f'{{"web": "{source}"}}')
    return (
        *data,
        "--data.tokenizer",
        "bytes",
        "--data.seq_len",
        "16",
        "--data.batch_size",
        "2",
        "--data.val_size",
        "1",
    )


def prepare(text: str, out: str, *args: str) -> tuple[str, ...]:
    return ("prepare", "--files", text, "--tokenizer", "bytes", "--seq_len", "16", "--out", out, "--num_workers", "1",
            *args)  # fmt: skip


SILENTLY_WRONG = "silently wrong"
NONSENSE = "accepted nonsense"
TRACEBACK = "traceback"
ROWS = [
    # ---- resume honours the config: what the checkpoint cannot continue under is one error naming both values
    Row(SILENTLY_WRONG, "resume-other-shape", resume("{baseline_ckpt}", config="{wide_cfg}"), "model.d_model=32"),
    Row(SILENTLY_WRONG, "resume-loop-under-lidas", resume("{loop_ckpt}", config="{lidas_cfg}"), "model.depth.name"),
    Row(
        SILENTLY_WRONG,
        "resume-depth-flag",
        resume("{lidas_ckpt}", "--model.depth.horizon", "4", config="{lidas_cfg}"),
        "model.depth.horizon",
    ),
    Row(SILENTLY_WRONG, "resume-n-layers", resume("{baseline_ckpt}", config="{deeper_cfg}"), "n_layers"),
    Row(SILENTLY_WRONG, "resume-edited-plan", resume("{edited_plan_ckpt}"), "plan 0 1 0 1 0 1 0 1 0 1"),
    Row(
        SILENTLY_WRONG,
        "resume-optimizer-class",
        resume("{baseline_ckpt}", "--model.optimizer", "torch.optim.SGD", "--model.optimizer.init_args.lr", "0.1"),
        "model.optimizer.class_path",
    ),
    Row(
        SILENTLY_WRONG,
        "resume-new-lr",
        resume("{baseline_ckpt}", "--model.optimizer.init_args.lr", "0.001"),
        "resume: model.optimizer.init_args.lr 0.003 -> 0.001",
        "announce",
    ),
    # ---- accepted nonsense
    Row(
        NONSENSE,
        "resume-max-steps-at-the-checkpoint-step",
        fit("--ckpt_path", "{baseline_ckpt}", "--trainer.max_steps", "2"),
        "trainer.max_steps=2 is at or below the checkpoint's step 2",
        "warn",
    ),
    Row(
        NONSENSE,
        "growth-horizon-beyond-max-steps",
        fit("--model.depth.horizon", "10", config="{lidas_cfg}"),
        "model.depth.horizon",
        "warn",
    ),
    Row(NONSENSE, "lr-0", fit("--model.optimizer.init_args.lr", "0"), "model.optimizer.init_args.lr"),
    Row(NONSENSE, "lr-negative", fit("--model.optimizer.init_args.lr", "-1"), "model.optimizer.init_args.lr"),
    Row(NONSENSE, "total-steps-below-max-steps", fit("--model.total_steps", "1"), "model.total_steps"),
    Row(NONSENSE, "seq-len-above-max-seq-len", fit("--data.init_args.seq_len", "128"), "data.seq_len"),
    Row(
        NONSENSE,
        "loop-disagrees-with-n-layers",
        fit(config="{loop_n_layers_cfg}"),
        "model.arch_overrides.n_layers=3 is ignored",
        "warn",
    ),
    Row(
        NONSENSE,
        "retrofit-after-max-steps",
        fit("--model.depth", '{"name": "baseline", "retrofit": {"start_step": 50, "block": [0, 2]}}'),
        "model.depth.retrofit.start_step",
        "warn",
    ),
    Row(NONSENSE, "gradient-clip-negative", fit("--trainer.gradient_clip_val", "-1"), "trainer.gradient_clip_val"),
    Row(NONSENSE, "accumulate-0", fit("--trainer.accumulate_grad_batches", "0"), "trainer.accumulate_grad_batches"),
    Row(NONSENSE, "val-check-interval-0", fit("--trainer.val_check_interval", "0"), "trainer.val_check_interval"),
    Row(NONSENSE, "devices-0", fit("--trainer.devices", "0"), "trainer.devices"),
    Row(
        NONSENSE,
        "generate-cuda-without-cuda",
        ("generate", "--ckpt_path", "{baseline_ckpt}", "--prompt", "a", "--device", "cuda"),
        "--device='cuda'",
    ),
    *[
        Row(NONSENSE, f"prepare-{kind}", prepare(f"{{{kind}_file}}", f"{{out}}/{kind}"), "is not valid utf-8 text")
        for kind in ("binary", "latin1")
    ],
    # ---- tracebacks instead of one line
    *[
        Row(TRACEBACK, f"fit-ckpt-{kind}", resume(f"{{{kind}_file}}"), "--ckpt_path")
        for kind in ("empty", "truncated", "random", "foreign")
    ],
    Row(TRACEBACK, "data-seq-len-0", fit("--data.init_args.seq_len", "0"), "data.seq_len"),
    Row(TRACEBACK, "data-batch-size-0", fit("--data.init_args.batch_size", "0"), "data.batch_size"),
    Row(TRACEBACK, "data-val-size-0", fit("--data.init_args.val_size", "0"), "data.val_size"),
    Row(
        TRACEBACK,
        "streaming-missing-dir",
        fit(*streaming("{missing_dir}")),
        "{missing_dir}",
    ),
    *[
        Row(TRACEBACK, f"streaming-{name}", fit(*streaming(f"{{{name}_dir}}")), field)
        for name, field in (
            ("missing_index", "index.json"),
            ("truncated_chunk", "chunk-0-0.bin is truncated"),
            ("missing_chunk", "chunk-0-0.bin listed in index.json is missing"),
            ("missing_manifest", "lightning_iter_prepare.json (the manifest `prepare` writes last) is missing"),
        )
    ],
    Row(
        TRACEBACK,
        "prepare-into-a-foreign-dir",
        prepare("{text_file}", "{foreign_dir}", "--overwrite", "true"),
        "--out={foreign_dir} is a directory that `lightning_iter prepare` did not write",
    ),
    Row(
        TRACEBACK,
        "retrofit-block-a:b",
        fit("--model.depth", '{"name": "baseline", "retrofit": {"start_step": 0, "block": "a:b"}}'),
        "depth.retrofit.block",
    ),
    Row(
        TRACEBACK,
        "retrofit-extra-0",
        fit("--model.depth", '{"name": "baseline", "retrofit": {"start_step": 0, "block": [0, 2], "extra": 0}}'),
        "depth.retrofit.extra",
    ),
    Row(
        TRACEBACK,
        "eval-config-disagrees-with-weights",
        ("eval", "--ckpt_path", "{mismatch_ckpt}", "--tasks", "copy", "--n_items", "2", "--out", "{out}"),
        "--ckpt_path",
    ),
    Row(
        TRACEBACK,
        "generate-config-disagrees-with-weights",
        ("generate", "--ckpt_path", "{mismatch_ckpt}", "--prompt", "a"),
        "--ckpt_path",
    ),
    Row(
        TRACEBACK,
        "analyze-config-disagrees-with-weights",
        ("analyze", "--ckpt_path", "{mismatch_ckpt}", "--out", "{out}"),
        "--ckpt_path",
    ),
    Row(
        TRACEBACK,
        "export-config-disagrees-with-weights",
        ("export", "--ckpt_path", "{mismatch_ckpt}", "--out", "{out}/export"),
        "--ckpt_path",
    ),
    Row(
        TRACEBACK,
        "generate-repeat-100000",
        ("generate", "--ckpt_path", "{baseline_ckpt}", "--prompt", "a", "--repeat", "0:2x100000"),
        "--repeat=0:2x100000",
    ),
]


def _config(root: Path, name: str, depth: str, n_layers: int, run: str) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(TINY.format(root=root / run, depth=depth, n_layers=n_layers))
    return path


def newest_checkpoint(root: Path) -> Path:
    files = [p for p in root.rglob("*.ckpt") if not p.is_symlink() and not p.name.startswith(".")]
    return max(files, key=lambda p: p.stat().st_mtime_ns)


def build_files(root: Path, strategies: tuple[str, ...] = tuple(DEPTHS), damaged: bool = True) -> dict[str, str]:
    """Configs, trained tiny checkpoints (one per strategy) and (`damaged`) the broken files the rows refer to."""
    from lightning_iter.cli import main

    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {"out": str(root / "out"), "missing_dir": str(root / "no-such-prepared-dir")}
    for name in strategies:
        depth, n_layers = DEPTHS[name]
        config = _config(root, f"{name}_cfg", depth, n_layers, f"run-{name}")
        files[f"{name}_cfg"] = str(config)
        assert main(["fit", "--config", str(config)]) == 0
        files[f"{name}_ckpt"] = str(newest_checkpoint(root / f"run-{name}"))
    if not damaged:
        return files
    files["wide_cfg"] = str(_config(root, "wide_cfg", DEPTHS["baseline"][0], 2, "run-wide"))
    Path(files["wide_cfg"]).write_text(Path(files["wide_cfg"]).read_text().replace("d_model: 32", "d_model: 48"))
    files["deeper_cfg"] = str(_config(root, "deeper_cfg", DEPTHS["baseline"][0], 3, "run-deeper"))
    files["loop_n_layers_cfg"] = str(_config(root, "loop_n_layers_cfg", DEPTHS["loop"][0], 3, "run-loop-n"))
    checkpoint = torch.load(files["baseline_ckpt"], weights_only=False)
    edited = {**checkpoint, "lightning_iter": {**checkpoint["lightning_iter"], "plan": [0, 1] * 5}}
    torch.save(edited, root / "edited_plan.ckpt")
    files["edited_plan_ckpt"] = str(root / "edited_plan.ckpt")
    entry = checkpoint["lightning_iter"]
    mismatch = {**checkpoint, "lightning_iter": {**entry, "config": {**entry["config"], "ffn_dim": 96}}}
    torch.save(mismatch, root / "mismatch.ckpt")
    files["mismatch_ckpt"] = str(root / "mismatch.ckpt")
    raw = Path(files["baseline_ckpt"]).read_bytes()
    damaged = {
        "empty": b"",
        "truncated": raw[: len(raw) // 2],
        "random": os.urandom(4096),
    }
    for kind, data in damaged.items():
        (root / f"{kind}.ckpt").write_bytes(data)
        files[f"{kind}_file"] = str(root / f"{kind}.ckpt")
    torch.save({"weights": torch.zeros(3)}, root / "foreign.ckpt")
    _prepared_files(root, files)
    files["foreign_file"] = str(root / "foreign.ckpt")
    (root / "files.json").write_text(json.dumps(files, indent=1))
    return files


def _prepared_files(root: Path, files: dict[str, str]) -> None:
    """Text inputs for `prepare` (UTF-8, binary, Latin-1), a foreign folder, and damaged copies of a prepared dir."""
    import random
    import shutil

    from lightning_iter.data import ByteTokenizer
    from lightning_iter.data.prepare import prepare_dataset

    rng = random.Random(0)
    inputs = {
        "text": " ".join(rng.choice(["alpha", "beta", "gamma"]) for _ in range(3000)).encode(),
        "binary": bytes(rng.randrange(256) for _ in range(4096)),
        "latin1": "café crème brûlée\n".encode("latin-1"),
    }
    for kind, data in inputs.items():
        (root / f"{kind}.txt").write_bytes(data)
        files[f"{kind}_file"] = str(root / f"{kind}.txt")
    (root / "foreign").mkdir()
    (root / "foreign" / "keep.txt").write_text("the user's file")
    files["foreign_dir"] = str(root / "foreign")
    prepared = prepare_dataset([root / "text.txt"], ByteTokenizer(), str(root / "prepared"), seq_len=16, verbose=False)
    for name in ("missing_index", "truncated_chunk", "missing_chunk", "missing_manifest"):
        files[f"{name}_dir"] = str(shutil.copytree(prepared.out, root / name))
    (root / "missing_index" / "index.json").unlink()
    chunk = next((root / "truncated_chunk").glob("chunk-*.bin"))
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    next((root / "missing_chunk").glob("chunk-*.bin")).unlink()
    (root / "missing_manifest" / "lightning_iter_prepare.json").unlink()


def fill(items: tuple[str, ...], files: dict[str, str]) -> list[str]:
    """`items` with every `{name}` replaced by its file (JSON arguments keep their own braces)."""
    out = []
    for item in items:
        for key, value in files.items():
            item = item.replace(f"{{{key}}}", value)
        out.append(item)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build_files(tmp_path_factory.mktemp("bad_input"))


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input_gives_one_line_naming_the_field(row, files, capsys, recwarn):
    from lightning_iter.cli import main

    argv = fill(row.argv, files)
    if argv[0] == "fit" and "--ckpt_path" not in argv:  # a fresh fit per row: its own run directory (run_dir.py)
        argv.append(f"--run_name={''.join(c if c.isalnum() or c in '._-' else '-' for c in row.name)}")
    rc = main(argv)
    out, err = capsys.readouterr()
    field = fill((row.field,), files)[0]
    if row.expect == "error":
        lines = [line for line in err.splitlines() if line.startswith("lightning_iter: error:")]
        assert rc == 2, err[-2000:]
        assert len(lines) == 1 and field in lines[0], err[-2000:]
        assert "Traceback" not in err
    elif row.expect == "warn":
        assert rc == 0, err[-2000:]
        warned = [str(w.message) for w in recwarn if field in str(w.message)]
        assert len(warned) == 1 and "\n" not in warned[0], [str(w.message) for w in recwarn]
    else:
        assert rc == 0, err[-2000:]
        assert sum(field in line for line in out.splitlines()) == 1, out[-2000:]
