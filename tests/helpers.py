"""Shared builders for tests that run the Trainer on a model small enough for CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import Logger

from lightning_iter.data import PrimitivesDataModule
from lightning_iter.module import LanguageModel

SMALL = {"d_model": 32, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "max_seq_len": 32}


def small_lm(depth: dict[str, Any], n_layers: int = 4, **kwargs: Any) -> LanguageModel:
    kwargs.setdefault("warmup_steps", 2)
    kwargs.setdefault("optimizer", partial(torch.optim.AdamW, lr=3e-3, betas=(0.9, 0.95)))
    return LanguageModel(arch="tiny", arch_overrides={**SMALL, "n_layers": n_layers}, depth=depth, **kwargs)


def small_data(**kwargs: Any) -> PrimitivesDataModule:
    return PrimitivesDataModule(**{"seq_len": 16, "batch_size": 4, "val_size": 8, **kwargs})


class MemoryLogger(Logger):
    """Keeps every `log_metrics` call: {step: {key: value}}."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[int, dict[str, float]] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.steps.setdefault(step, {}).update(metrics)


class Recorder(L.Callback):
    """Records (global step before the update, unique layers, training loss, lr) for every batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float, float]] = []
        self._lr = float("nan")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._lr = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append((trainer.global_step - 1, pl_module.model.n_unique, float(outputs["loss"]), self._lr))


def trainer(**kwargs: Any) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        gradient_clip_val=1.0,
        num_sanity_val_steps=0,
    )
    return L.Trainer(**{**defaults, **kwargs})


def write_checkpoint(path, depth: dict[str, Any], n_layers: int, max_steps: int) -> LanguageModel:
    """Train `small_lm(depth, n_layers)` for `max_steps` on the small primitive data and save a checkpoint at `path`."""
    lm = small_lm(depth, n_layers=n_layers)
    t = trainer(max_steps=max_steps)
    t.fit(lm, datamodule=small_data())
    t.save_checkpoint(path)
    return lm


def load_benchmark(name: str):
    """Import `benchmarks/<name>.py` (a script folder, not a package) as a module, registered in sys.modules."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lightning_iter_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_ddp_script(args: list[str], attempts: int = 3) -> subprocess.CompletedProcess:
    """Run a 2-process gloo script on CPU; retried only when the rendezvous port was taken by a concurrent test
    (Lightning picks a free port, then binds it later: another xdist worker may take it in between)."""
    rendezvous = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")
    env = {k: v for k, v in os.environ.items() if k not in rendezvous}  # an earlier in-process run's port: not ours
    env.update(CUDA_VISIBLE_DEVICES="", PL_DISABLE_FORK="1")
    for _ in range(attempts):
        result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
        if result.returncode == 0 or "EADDRINUSE" not in result.stderr:
            break
    return result


def free_port() -> int:
    """A TCP port free on localhost now (another process may still take it before it is bound: retry on that)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_node_processes(launch: Any, nodes: int = 2, attempts: int = 3) -> list[subprocess.CompletedProcess]:
    """Start one process per simulated node at once, as a cluster launcher would, and wait for all of them.

    `launch(node, port)` gives (argv, variables) of node `node`: its ranks, the rendezvous at 127.0.0.1:`port`.
    Inherited rendezvous, SLURM and torchrun variables are stripped first. Retried, with a new port, only when
    the rendezvous port was taken in between (EADDRINUSE)."""
    rendezvous = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")
    base = {k: v for k, v in os.environ.items() if k not in rendezvous and not k.startswith(("SLURM_", "TORCHELASTIC"))}
    base.update(CUDA_VISIBLE_DEVICES="", PL_DISABLE_FORK="1")
    for _ in range(attempts):
        port = free_port()
        procs = []
        for node in range(nodes):
            argv, variables = launch(node, port)
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
            procs.append(subprocess.Popen(argv, env={**base, **variables}, **pipes))
        results = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:  # a node that lost its peer would wait for the rendezvous forever
                for other in procs:
                    other.kill()
                out, err = proc.communicate()
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        if all(r.returncode == 0 for r in results) or not any("EADDRINUSE" in r.stderr for r in results):
            break
    return results


def assert_ranks_grew_identically(ranks: list[dict[str, Any]]) -> None:
    """Two data-parallel ranks' dumps (rows of (step, n_unique, loss), params, optimizer state): they grew at the same
    steps on different data, yet every parameter (grown layers' too) and every AdamW moment is identical."""
    assert [row[:2] for row in ranks[0]["rows"]] == [row[:2] for row in ranks[1]["rows"]]
    assert [row[1] for row in ranks[0]["rows"]] == [1, 2, 2, 3, 3, 3]
    assert [row[2] for row in ranks[0]["rows"]] != [row[2] for row in ranks[1]["rows"]]  # different data
    p0, p1 = ranks[0]["params"], ranks[1]["params"]
    assert set(p0) == set(p1) and any(k.startswith("layers.2.") for k in p0)
    for key in p0:
        torch.testing.assert_close(p0[key], p1[key], rtol=0, atol=0, msg=key)
    s0, s1 = ranks[0]["optimizer"]["state"], ranks[1]["optimizer"]["state"]
    assert set(s0) == set(s1) and len(s0) == len(p0)  # one optimizer state per parameter, grown ones included
    for index in s0:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(s0[index][key], s1[index][key], rtol=0, atol=0)


def tiny_fit_args(max_steps: int, val_check_interval: int) -> list[str]:
    """Command-line overrides that make `configs/quickstart.yaml` a seconds-long fit: a 3-layer d=32 LIDAS grown
    from 1 layer over 4 steps, batches of 2 x 16 tokens, logging every step, no progress bar."""
    return [
        "--model.arch_overrides",
        '{"n_layers": 3, "d_model": 32, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64}',
        "--model.depth",
        '{"name": "lidas", "block_size": 1, "initial_depth": 1, "horizon": 4}',
        "--model.warmup_steps",
        "1",
        "--data.seq_len",
        "16",
        "--data.batch_size",
        "2",
        "--data.val_size",
        "4",
        "--trainer.max_steps",
        str(max_steps),
        "--trainer.val_check_interval",
        str(val_check_interval),
        "--trainer.log_every_n_steps",
        "1",
        "--trainer.enable_progress_bar",
        "false",
    ]


def keep_figures(monkeypatch: Any, module: Any) -> list[Any]:
    """The figures `module.save_figure` is given from now on, kept for inspection (they are still saved)."""
    kept: list[Any] = []
    save = module.save_figure

    def keep(fig: Any, path: Any) -> Any:
        kept.append(fig)
        return save(fig, path)

    monkeypatch.setattr(module, "save_figure", keep)
    return kept
