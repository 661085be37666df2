"""Activation memory and step time of a training step with and without activation checkpointing.

    python benchmarks/activation_memory.py [--archs tiny,smollm-360m] [--batch 1] [--seq_len 512] [--plan baseline]
        [--rounds 3] [--device cpu] [--out benchmarks/results/activation_memory]

One step is forward, loss and backward of a preset (random weights, fp32 on CPU) on [batch, seq_len] tokens,
with `model.activation_checkpointing` off and on; the two variants of each preset are interleaved in every
round and timed in CPU time (`time.process_time`, median over rounds, one torch thread by default).
Memory, on CPU, is counted, not sampled: the activations the step holds when its forward ends are the tensors
autograd saved for backward (unique storages, parameters excluded, through `saved_tensors_hooks`) plus, with
checkpointing, the inputs each checkpointed plan position keeps for its recompute; backward then also holds one
position's recomputed activations at a time (the "recompute" column; the peak is held + recompute). Both are
deterministic. On CUDA the peak is also measured: `torch.cuda.max_memory_allocated` over the step above the
model with its gradients allocated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
PLANS = ("baseline", "loop")  # loop: the middle half of the layers run twice (a looped layer recomputed per pass)


def build(args: argparse.Namespace, arch: str, checkpointing: bool) -> tuple[Any, Any, Any]:
    """The preset with random weights (the same for both variants), its plan, and a batch of tokens/targets."""
    import torch

    from lightning_iter.model import ModelConfig, Transformer, repeat_block

    torch.manual_seed(0)
    config = ModelConfig.from_name(arch, kernels=args.kernels, activation_checkpointing=checkpointing)
    with torch.device(args.device):
        model = Transformer(config).train()
    if args.plan == "loop":
        n = config.n_layers
        model.plan = repeat_block(model.plan, n // 4, n - n // 4, 1)
    generator = torch.Generator().manual_seed(1)
    data = torch.randint(0, config.vocab_size, (args.batch, args.seq_len + 1), generator=generator).to(args.device)
    return model, data[:, :-1], data[:, 1:]


def forward_loss(model: Any, tokens: Any, targets: Any) -> Any:
    """The training loss, under bf16 autocast on CUDA (as `bf16-mixed` trains)."""
    import torch

    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=tokens.device.type == "cuda"):
        return model.loss(tokens, targets)


def step(model: Any, tokens: Any, targets: Any) -> None:
    """Forward, loss and backward (gradients accumulate; their memory is allocated by the first step)."""
    forward_loss(model, tokens, targets).backward()


class ActivationCounter:
    """Bytes held for backward: unique storages autograd saves (parameters excluded) and checkpointed inputs."""

    def __init__(self, model: Any) -> None:
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages: dict[int, int] = {}

    def add(self, tensor: Any) -> Any:
        import torch

        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in self.params:
                self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def nbytes(self) -> int:
        return sum(self.storages.values())


def held_bytes(model: Any, tokens: Any, targets: Any) -> int:
    """Activation bytes the step holds when its forward (with the loss) ends; see the module docstring."""
    import torch

    from lightning_iter.model import transformer

    counter = ActivationCounter(model)
    checkpointed = transformer.checkpointed

    def counting(layer: Any, *args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            counter.add(value)  # what the checkpoint keeps for its recompute: the position's inputs
        return checkpointed(layer, *args, **kwargs)

    transformer.checkpointed = counting
    try:
        with torch.autograd.graph.saved_tensors_hooks(counter.add, lambda t: t):
            loss = forward_loss(model, tokens, targets)
    finally:
        transformer.checkpointed = checkpointed
    del loss
    return counter.nbytes


def recompute_bytes(model: Any, tokens: Any) -> int:
    """Activation bytes of one plan position (the largest unique layer's), what backward holds while recomputing."""
    import torch

    hidden = model.embed(tokens).detach().requires_grad_()
    cos, sin = model.rope_tables(tokens.shape[1], tokens.device, hidden.dtype)
    largest = 0
    for layer in dict.fromkeys(model.plan):
        counter = ActivationCounter(model)
        counter.params.add(hidden.untyped_storage().data_ptr())  # its input is counted as held
        with torch.autograd.graph.saved_tensors_hooks(counter.add, lambda t: t):
            model.layers[layer](hidden, cos, sin)
        largest = max(largest, counter.nbytes)
    return largest


def cuda_peak(model: Any, tokens: Any, targets: Any) -> float:
    import torch

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step(model, tokens, targets)
    torch.cuda.synchronize()
    return float(torch.cuda.max_memory_allocated() - base)


def measure(args: argparse.Namespace, arch: str) -> dict[str, Any]:
    """Interleaved rounds of both variants of one preset; counted (and on CUDA measured) memory once each."""
    import torch

    variants = {ac: build(args, arch, ac) for ac in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for model, tokens, targets in variants.values():
        step(model, tokens, targets)  # warm-up: allocates the gradients
    for _ in range(args.rounds):
        for ac, (model, tokens, targets) in variants.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.process_time() if args.device == "cpu" else time.perf_counter()
            step(model, tokens, targets)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[ac].append((time.process_time() if args.device == "cpu" else time.perf_counter()) - start)
    row: dict[str, Any] = {"arch": arch, "params": variants[False][0].num_parameters()}
    for ac, (model, tokens, targets) in variants.items():
        key = "ac" if ac else "plain"
        row[f"{key}_step_s"] = statistics.median(times[ac])
        row[f"{key}_held_bytes"] = held_bytes(model, tokens, targets)
        row[f"{key}_recompute_bytes"] = recompute_bytes(model, tokens) if ac else 0
        row[f"{key}_peak_activation_bytes"] = row[f"{key}_held_bytes"] + row[f"{key}_recompute_bytes"]
        row[f"{key}_cuda_peak_bytes"] = cuda_peak(model, tokens, targets) if args.device.startswith("cuda") else None
    row["step_ratio"] = row["ac_step_s"] / row["plain_step_s"]
    row["activation_ratio"] = row["ac_peak_activation_bytes"] / row["plain_peak_activation_bytes"]
    if args.device.startswith("cuda"):
        row["cuda_peak_ratio"] = row["ac_cuda_peak_bytes"] / row["plain_cuda_peak_bytes"]
    del variants
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="tiny,smollm-360m", help="comma-separated model presets")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq_len", type=int, default=512)
    parser.add_argument("--plan", default="baseline", choices=PLANS, help="loop: the middle half runs twice")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (each runs both variants once)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--kernels", default="torch", help="model.kernels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "activation_memory")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for arch in args.archs.split(","):
        rows.append(measure(args, arch))
        print(f"{arch} done", file=sys.stderr)

    mib = 2.0**20
    print(
        f"\n## Activation checkpointing: batch {args.batch}, seq {args.seq_len}, plan {args.plan}, "
        f"device {args.device}, {args.threads} thread(s), median of {args.rounds} rounds\n"
    )
    print(
        "activations = held at the end of forward (+ one position's recompute with checkpointing); "
        "ratio = with / without.\n"
    )
    cuda = args.device.startswith("cuda")
    header = "| preset | params | step s off | step s on | step ratio | act MiB off | held MiB on | recompute MiB on "
    header += "| act MiB on | act ratio |" + (" CUDA peak MiB off | on | ratio |" if cuda else "")
    print(header)
    print("|" + "---:|" * (header.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['arch']} | {r['params'] / 1e6:.1f}M | {r['plain_step_s']:.3f} | {r['ac_step_s']:.3f} "
            f"| {r['step_ratio']:.2f} | {r['plain_peak_activation_bytes'] / mib:.1f} | {r['ac_held_bytes'] / mib:.1f} "
            f"| {r['ac_recompute_bytes'] / mib:.1f} | {r['ac_peak_activation_bytes'] / mib:.1f} "
            f"| {r['activation_ratio']:.3f} |"
        )
        if cuda:
            line += (
                f" {r['plain_cuda_peak_bytes'] / mib:.0f} | {r['ac_cuda_peak_bytes'] / mib:.0f} "
                f"| {r['cuda_peak_ratio']:.3f} |"
            )
        print(line)
    result = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "activation_memory.json"
    write_json_atomic(path, result)
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    main()
