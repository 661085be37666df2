"""Wall time of `lightning_iter <verb> --help` (and of `lightning_iter strategies`), each in a fresh process.

    python benchmarks/cli_help.py [--exe [NAME=]PATH ...] [--rounds 3] [--verbs fit eval ...] [--out DIR]

A user waits for the whole process (wall time, `time.perf_counter` around `subprocess.run`); on a shared
machine wall time mostly measures the other load, so the child's CPU time (user + system, `getrusage`)
is reported too, and the ratio compares CPU time. `--exe before=OLD/bin/lightning_iter after=NEW/bin/...`
compares console scripts: every round runs every verb with every script, interleaved, so load changes
hit all alike; the table shows medians over the rounds.
Goal (issue 17 item 1): < 1 s for every `--help` and for `strategies`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightning_iter.atomic import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 1.0


def default_verbs() -> list[str]:
    """Every verb of this checkout's dispatcher, each as `<verb> --help`, plus `strategies` itself."""
    from lightning_iter.cli import VERBS

    return [*VERBS, "strategies!"]


def command(exe: list[str], verb: str) -> list[str]:
    """`strategies!` stands for running `strategies` (the listing); any other verb gets `--help`."""
    return [*exe, verb[:-1]] if verb.endswith("!") else [*exe, verb, "--help"]


def label(verb: str) -> str:
    return f"{verb[:-1]} (run)" if verb.endswith("!") else f"{verb} --help"


def time_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds until `argv` exits, the CPU seconds (user + system) it used, and its exit status."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(exes: dict[str, list[str]], verbs: list[str], rounds: int) -> list[dict[str, Any]]:
    """Per verb and console script: wall and CPU times over `rounds` rounds, every (verb, script) once per round."""
    runs: dict[tuple[str, str], list[tuple[float, float, int]]] = {(v, e): [] for v in verbs for e in exes}
    for _ in range(rounds):
        for verb in verbs:
            for name, exe in exes.items():
                runs[verb, name].append(time_once(command(exe, verb)))
    rows = []
    for verb in verbs:
        row: dict[str, Any] = {"command": label(verb)}
        for name in exes:
            got = runs[verb, name]
            row[name] = {
                "wall_s": statistics.median(r[0] for r in got),
                "cpu_s": statistics.median(r[1] for r in got),
                "wall_runs_s": [r[0] for r in got],
                "exit_codes": sorted({r[2] for r in got}),
            }
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], names: list[str]) -> str:
    """Median wall and CPU seconds per console script; with two, the CPU ratio second/first."""
    head = "| command | " + " | ".join(f"{n} wall s | {n} CPU s | {n} exit" for n in names)
    head += " | CPU ratio |" if len(names) == 2 else " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(names) + (len(names) == 2))]
    for row in rows:
        cells = [f"`{row['command']}`"]
        for n in names:
            r = row[n]
            cells += [f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", ",".join(str(c) for c in r["exit_codes"])]
        if len(names) == 2:
            first, second = row[names[0]]["cpu_s"], row[names[1]]["cpu_s"]
            cells.append(f"{second / first:.3f}" if first > 0 else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--exe",
        nargs="+",
        default=None,
        help="console scripts to compare, NAME=PATH or PATH (default: this Python's `-m lightning_iter.cli`)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table shows the median")
    parser.add_argument("--verbs", nargs="+", default=None, help="verbs to time (default: all; `strategies!` runs it)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_help", help="output folder")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds} is not allowed: it must be an integer >= 1")
    exes: dict[str, list[str]] = {}
    for spec in args.exe or []:
        name, _, path = spec.rpartition("=")
        found = shutil.which(path)
        if found is None:
            parser.error(f"--exe {spec!r} is not allowed: {path!r} is not an executable")
        exes[name or f"exe{len(exes)}"] = [found]
    if not exes:
        exes["this"] = [sys.executable, "-m", "lightning_iter.cli"]
    verbs = args.verbs or default_verbs()
    rows = measure(exes, verbs, args.rounds)
    result = {"exes": exes, "rounds": args.rounds, "goal_s": GOAL_S, "rows": rows}
    print(table(rows, list(exes)))
    path = Path(args.out) / "cli_help.json"
    write_json_atomic(path, result)
    print(f"results: {path.resolve()}")
    return result


if __name__ == "__main__":
    main()
