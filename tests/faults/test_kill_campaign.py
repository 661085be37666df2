"""The kill -9 campaign (issue 16): `fit` killed inside checkpoint writes and at random points, with $TMPDIR on
another filesystem than the checkpoints, resumed with `--ckpt_path last` to losses bit-identical to an uninterrupted
run; `prepare` killed mid-way (its workers die, its staging is removed by the next run) and `--overwrite` on a
directory it did not write (refused).

The suite runs it through `python THIS_FILE --suite OUT` (one subprocess that imports lightning_iter once and
forks every `fit`/`prepare` run, so a dozen runs cost seconds, not a dozen interpreter starts). By hand, with any
venv's python (it exercises the lightning_iter that python imports), it prints the before/after table:

    /tmp/base/.venv/bin/python tests/faults/test_kill_campaign.py --table /tmp/camp-base --resume documented
    .venv/bin/python tests/faults/test_kill_campaign.py --table /tmp/camp-new
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SAVE_DELAY_ENV = "LIGHTNING_ITER_TEST_SAVE_DELAY"  # lightning_iter.callbacks.checkpointing; older versions ignore it
MAX_STEPS = 40
CAMPAIGN_CONFIG = f"""
trainer:
  max_steps: {MAX_STEPS}
  val_check_interval: 20
  log_every_n_steps: 1
  enable_progress_bar: false
  enable_model_summary: false
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args:
        every_n_train_steps: 4
        save_last: true
        save_top_k: -1
model:
  arch_overrides: {{n_layers: 3, d_model: 64, n_heads: 2, n_kv_heads: 1, ffn_dim: 128}}
  depth: {{name: lidas, block_size: 1, initial_depth: 1, horizon: 24}}
  warmup_steps: 2
data:
  init_args: {{seq_len: 64, batch_size: 8, val_size: 8}}
"""
OUTCOMES = ("ok", "clear error", "traceback", "silent", "hang", "data lost", "orphans", "misleading error")


# ---- processes -----------------------------------------------------------------------------------
def preload() -> None:
    """Import what `fit` and `prepare` import, once, before forking runs."""
    import lightning.pytorch.cli  # noqa: F401
    import litdata  # noqa: F401
    from tensorboard.backend.event_processing import event_accumulator  # noqa: F401

    import lightning_iter.cli  # noqa: F401
    import lightning_iter.commands.fit  # noqa: F401
    import lightning_iter.commands.prepare  # noqa: F401
    import lightning_iter.data  # noqa: F401
    import lightning_iter.module  # noqa: F401


def fork_cli(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    """Fork a child that runs `lightning_iter ARGS` in `cwd` with `env` added, stdout/stderr to `log`.*; its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        import tempfile

        os.chdir(cwd)
        os.environ.update(env)
        tempfile.tempdir = None  # re-read $TMPDIR
        out = os.open(f"{log}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(f"{log}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        from lightning_iter.cli import main

        code = main(args)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child reports it like the console script would
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait(pid: int, timeout: float, trigger=None) -> dict:
    """Wait for `pid`, polling `trigger()` every ms: when it returns a delay, SIGKILL after that delay."""
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"rc": os.waitstatus_to_exitcode(status), "killed": False, "hung": False}
        if trigger is not None:
            delay = trigger()
            if delay is not None:
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"rc": -9, "killed": True, "hung": False}
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"rc": -9, "killed": False, "hung": True}
        time.sleep(0.001)


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---- checkpoints ---------------------------------------------------------------------------------
def loads(path: Path) -> int | None:
    """The global step of a complete checkpoint file, None if it is torn or unreadable (version-independent)."""
    import torch

    try:
        if not zipfile.is_zipfile(path):
            return None
        return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])
    except Exception:  # noqa: BLE001 - any failure means it cannot be resumed from
        return None


def visible_checkpoints(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("*.ckpt") if not p.name.startswith("."))


def our_temps(*dirs: Path) -> list[Path]:
    """Temporaries a checkpoint write may leave: ours (`.NAME.tmp-*`) beside the target, mkstemp's in $TMPDIR."""
    found = []
    for directory in dirs:
        found += [p for p in directory.rglob(".*.tmp-*")]
        found += [p for p in directory.glob("tmp*") if p.is_file()]
    return found


def losses(run: Path) -> dict[str, dict[int, float]]:
    """train/loss per step, per TensorBoard version folder of `run`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = {}
    for events in sorted(run.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0})
        acc.Reload()
        tagged = "train/loss" in acc.Tags()["scalars"]
        found[events.parent.name] = {e.step: e.value for e in acc.Scalars("train/loss")} if tagged else {}
    return found


def final_weights(run: Path):
    import torch

    newest = max(visible_checkpoints(run), key=lambda p: (loads(p) or -1, p.stat().st_mtime_ns))
    return torch.load(newest, map_location="cpu", weights_only=False)["state_dict"]


# ---- fit campaign --------------------------------------------------------------------------------
def fit_args(extra: list[str]) -> list[str]:
    return ["fit", "--config", str(QUICKSTART), "--config", "campaign.yaml", *extra]


def new_run(root: Path, name: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "campaign.yaml").write_text(CAMPAIGN_CONFIG)
    return run


def reference(root: Path, tmpdir: Path) -> dict:
    run = new_run(root, "reference")
    result = wait(fork_cli(fit_args([]), run, {"TMPDIR": str(tmpdir)}, run / "log"), 300)
    assert result["rc"] == 0, (run / "log.err").read_text()[-3000:]
    (series,) = losses(run).values()
    return {"losses": series, "weights": final_weights(run)}


class FirstCheckpoint:
    """Whether `run` holds a complete checkpoint yet (checked every 50 ms, remembered once true)."""

    def __init__(self, run: Path) -> None:
        self.run, self.found, self.checked = run, False, 0.0

    def __call__(self) -> bool:
        if not self.found and time.monotonic() - self.checked > 0.05:
            self.checked = time.monotonic()
            self.found = any(loads(p) is not None for p in visible_checkpoints(self.run))
        return self.found


def write_trigger(run: Path, tmpdir: Path, rng: random.Random):
    """Kill inside the n-th checkpoint write after the first complete one (n random): on seeing a new file of a
    write (a temporary beside the target or in $TMPDIR, or a new checkpoint name), at once or a little later
    (this version sleeps SAVE_DELAY_ENV seconds before its rename)."""
    first = FirstCheckpoint(run)
    seen: set[Path] = set()
    target = rng.randint(1, 4)
    count = [0]

    def trigger():
        if not first():
            seen.update(visible_checkpoints(run))
            return None
        names = set(our_temps(run, tmpdir)) | set(visible_checkpoints(run))
        if names - seen:
            seen.update(names)
            count[0] += 1
            if count[0] >= target:
                return rng.choice([0.0, rng.uniform(0, 0.2)])
        return None

    return trigger


def saved_steps(run: Path) -> set[int]:
    """Steps of the checkpoint files in `run`, from Lightning's names (`epoch=E-step=N.ckpt`)."""
    steps = set()
    for path in visible_checkpoints(run):
        tail = path.stem.rsplit("step=", 1)
        if len(tail) == 2 and tail[1].isdigit():
            steps.add(int(tail[1]))
    return steps


def random_trigger(run: Path, rng: random.Random):
    """Kill at a random moment between checkpoints: once the step-k checkpoint exists (k random, early enough that
    the run is still going however fast the machine), after a random pause shorter than a few steps."""
    target = rng.randrange(4, MAX_STEPS - 8, 4)
    pause = rng.uniform(0, 0.3)
    checked = [0.0]

    def trigger():
        if time.monotonic() - checked[0] < 0.02:
            return None
        checked[0] = time.monotonic()
        return pause if any(step >= target for step in saved_steps(run)) else None

    return trigger


def documented_resume(run: Path) -> str:
    """The resume the README of the version under test documents: `--ckpt_path last`, or the killed run's
    `last.ckpt` path for versions before `last` meant the newest loadable checkpoint of the run."""
    found = sorted(run.rglob("last.ckpt"))
    return str(found[0]) if found else "last"


def fit_trial(root: Path, tmpdir: Path, ref: dict, kind: str, seed: int, resume: str) -> dict:
    """One fit killed once (`kind`: write or random), then resumed to the end; its outcome and evidence."""
    rng = random.Random(seed)
    run = new_run(root, f"{kind}-{seed}")
    env = {"TMPDIR": str(tmpdir), SAVE_DELAY_ENV: "0.3" if kind == "write" else "0"}
    before = set(tmpdir.iterdir())
    trigger = write_trigger(run, tmpdir, rng) if kind == "write" else random_trigger(run, rng)
    first = wait(fork_cli(fit_args([]), run, env, run / "killed"), 300, trigger)
    on_disk = {p: loads(p) for p in visible_checkpoints(run)}
    newest_step = max((s for s in on_disk.values() if s is not None), default=0)
    torn = sorted(str(p.relative_to(run)) for p, s in on_disk.items() if s is None)
    ckpt = "last" if resume == "last" else documented_resume(run)
    second = wait(fork_cli(fit_args(["--ckpt_path", ckpt]), run, {"TMPDIR": str(tmpdir)}, run / "resumed"), 300)
    err = (run / "resumed.err").read_text()
    orphans = [str(p) for p in our_temps(run) if p.exists()] + [str(p) for p in set(tmpdir.iterdir()) - before]
    evidence = {"kind": kind, "seed": seed, "killed": first["killed"], "torn_after_kill": torn, "orphans": orphans}
    evidence["newest_complete_step"] = newest_step
    if not first["killed"]:  # it finished first: nothing was tested
        return {**evidence, "outcome": "not killed"}
    if second["hung"]:
        return {**evidence, "outcome": "hang"}
    if second["rc"] != 0:
        outcome = "traceback" if "Traceback" in err else "clear error"
        return {**evidence, "outcome": outcome, "error": err.strip().splitlines()[-1:]}
    series = losses(run)
    versions = sorted(series, key=lambda v: int(v.rsplit("_", 1)[-1]) if v.rsplit("_", 1)[-1].isdigit() else -1)
    resumed = series[versions[-1]] if len(versions) > 1 else {}
    start = min(resumed) - min(ref["losses"]) if resumed else None
    mismatched = [
        (version, step)
        for version, values in series.items()
        for step, value in values.items()
        if ref["losses"].get(step) != value
    ]
    weights = final_weights(run)
    same = set(weights) == set(ref["weights"]) and all(weights[k].equal(ref["weights"][k]) for k in weights)
    evidence.update(resumed_from_step=start, mismatched_steps=mismatched[:5])
    if mismatched or not same:
        return {**evidence, "outcome": "silent"}
    if start is None or start < newest_step or torn:  # resumed from an older save, or a torn file was left
        return {**evidence, "outcome": "data lost"}
    return {**evidence, "outcome": "orphans" if orphans else "ok"}


# ---- prepare campaign ----------------------------------------------------------------------------
def corpus(root: Path, megabytes: float) -> list[str]:
    """4 text files of `megabytes` in all, paragraphs of words."""
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta"]
    files = []
    for i in range(4):
        path = root / f"part{i}.txt"
        n = int(megabytes * (1 << 20) / 4 / 40)
        path.write_text("\n\n".join(" ".join(rng.choice(words) for _ in range(6)) for _ in range(n)))
        files.append(str(path))
    return files


def prepare_args(files: list[str], out: Path, *extra: str) -> list[str]:
    return ["prepare", "--files", *files, "--tokenizer", "bytes", "--out", str(out), "--seq_len", "64", *extra]


def overwrite_trial(root: Path, overwrite: bool) -> dict:
    """`prepare --out` a directory holding the user's file: it must survive, refused in one line."""
    work = root / f"overwrite-{overwrite}"
    work.mkdir(parents=True)
    files = corpus(work, 0.05)
    theirs = work / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("the user's")
    extra = ["--num_workers", "1", *(["--overwrite", "true"] if overwrite else [])]
    result = wait(fork_cli(prepare_args(files, theirs, *extra), work, {}, work / "log"), 300)
    err = (work / "log.err").read_text()
    lines = [line for line in err.splitlines() if "lightning_iter: error:" in line]
    evidence = {"kind": f"prepare --overwrite {str(overwrite).lower()}", "rc": result["rc"], "error": lines}
    if not (theirs / "keep.txt").is_file():
        return {**evidence, "outcome": "data lost"}
    if result["hung"]:
        return {**evidence, "outcome": "hang"}
    if "Traceback" in err:
        return {**evidence, "outcome": "traceback"}
    if result["rc"] == 2 and len(lines) == 1 and "--overwrite" not in lines[0].split("error:", 1)[1]:
        return {**evidence, "outcome": "clear error"}
    # a refusal that suggests --overwrite, which would delete the user's file
    return {**evidence, "outcome": "silent" if result["rc"] == 0 else "misleading error"}


def killed_prepare_trial(root: Path, seed: int) -> dict:
    """Kill -9 `prepare` while its litdata workers run (work units of ~2.5 MB, seconds each): they must exit at
    once; the next run into the same --out (a small input) removes the killed run's staging and succeeds."""
    rng = random.Random(seed)
    work = root / f"prepare-kill-{seed}"
    work.mkdir(parents=True)
    files = corpus(work, 20.0)
    out = work / "out"
    pid = fork_cli(prepare_args(files, out, "--num_workers", "2"), work, {}, work / "killed")
    workers: list[int] = []
    seen: list[float] = []

    def trigger():
        if not seen:
            found = children(pid)
            if len(found) < 2:
                return None
            seen.append(time.monotonic())
            workers.extend(found)
        return rng.uniform(0.0, 0.5)

    first = wait(pid, 300, trigger)
    time.sleep(1.0)
    survivors = [w for w in workers if alive(w)]
    for worker in survivors:
        os.kill(worker, signal.SIGKILL)
    staged = [p.name for p in work.glob(".out.tmp-*")]
    small = work / "small"
    small.mkdir()
    files = corpus(small, 0.05)
    again = wait(fork_cli(prepare_args(files, out, "--num_workers", "2"), work, {}, work / "again"), 300)
    left = [p.name for p in work.glob(".out.tmp-*")]
    evidence = {"kind": "killed prepare", "seed": seed, "killed": first["killed"], "workers": len(workers)}
    evidence.update(survivors=len(survivors), staging_after_kill=staged, staging_after_rerun=left)
    if survivors:
        return {**evidence, "outcome": "hang"}
    if again["rc"] != 0:
        err = (work / "again.err").read_text()
        return {**evidence, "outcome": "traceback" if "Traceback" in err else "clear error"}
    return {**evidence, "outcome": "orphans" if left else "ok"}


# ---- drivers -------------------------------------------------------------------------------------
def other_filesystem(root: Path) -> Path:
    """A $TMPDIR on another filesystem than `root` (the checkpoints): /dev/shm, else /tmp, else fail."""
    for candidate in ("/dev/shm", "/tmp", "/var/tmp"):
        if Path(candidate).is_dir() and os.stat(candidate).st_dev != os.stat(root).st_dev:
            tmpdir = Path(candidate) / f"lightning_iter_campaign_{os.getpid()}"
            tmpdir.mkdir()
            return tmpdir
    raise RuntimeError(f"no directory on another filesystem than {root} for $TMPDIR")


def suite(out: Path) -> dict:
    """The suite's campaign: 3 kills inside writes, 3 at random points, 1 killed prepare, 2 overwrite refusals."""
    preload()
    tmpdir = other_filesystem(out)
    try:
        ref = reference(out, tmpdir)
        trials = [fit_trial(out, tmpdir, ref, kind, seed, "last") for kind in ("write", "random") for seed in range(3)]
        trials += [killed_prepare_trial(out, 0), overwrite_trial(out, False), overwrite_trial(out, True)]
        return {"tmpdir_dev": os.stat(tmpdir).st_dev, "ckpt_dev": os.stat(out).st_dev, "trials": trials}
    finally:
        for leftover in tmpdir.iterdir():
            leftover.unlink()
        tmpdir.rmdir()


def table(out: Path, trials_per_kind: int, resume: str) -> list[dict]:
    """Every category `trials_per_kind` times; prints the tried/outcome table."""
    preload()
    tmpdir = other_filesystem(out)
    ref = reference(out, tmpdir)
    trials = []
    for kind in ("write", "random"):
        trials += [fit_trial(out, tmpdir, ref, kind, 100 + s, resume) for s in range(trials_per_kind)]
    trials += [overwrite_trial(out, False), overwrite_trial(out, True)]
    trials += [killed_prepare_trial(out, s) for s in range(trials_per_kind)]
    names = {"write": "kill during write", "random": "kill at random point"}
    rows: dict[str, dict[str, int]] = {}
    for trial in trials:
        kind = names.get(trial["kind"], "prepare overwrite" if "overwrite" in trial["kind"] else trial["kind"])
        row = rows.setdefault(kind, dict.fromkeys(("tried", *OUTCOMES), 0))
        if trial["outcome"] in OUTCOMES:  # "not killed": the run finished before its kill, not a trial
            row["tried"] += 1
            row[trial["outcome"]] += 1
    header = ["category", "tried", *OUTCOMES]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for kind, row in rows.items():
        print("| " + " | ".join([kind, *(str(row[h]) for h in header[1:])]) + " |")
    return trials


@pytest.mark.slow
def test_kill_campaign(tmp_path):
    """kill -9 inside writes and at random points, resume with `last`: bit-identical losses, nothing torn or left."""
    result = subprocess.run(
        [sys.executable, __file__, "--suite", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "campaign.json").read_text())
    assert report["tmpdir_dev"] != report["ckpt_dev"]  # $TMPDIR on another filesystem than the checkpoints
    trials = report["trials"]
    fits = [t for t in trials if t["kind"] in ("write", "random")]
    assert all(t["killed"] for t in fits), fits  # every run was killed before it finished
    for trial in fits:
        assert trial["torn_after_kill"] == [], trial  # no visible checkpoint file is ever torn
        assert trial["outcome"] == "ok", trial  # resumed from the newest, same losses and weights, no orphans
    (killed,) = [t for t in trials if t["kind"] == "killed prepare"]
    assert killed["killed"] and killed["workers"] >= 2 and killed["outcome"] == "ok", killed
    assert [t["outcome"] for t in trials if "overwrite" in t["kind"]] == ["clear error", "clear error"], trials


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, help="run the suite's campaign into this folder (campaign.json)")
    parser.add_argument("--table", type=Path, help="run the before/after campaign into this folder and print it")
    parser.add_argument("--trials", type=int, default=4, help="trials per category for --table")
    parser.add_argument("--resume", choices=("last", "documented"), default="last")
    cli = parser.parse_args()
    if cli.suite is not None:
        (cli.suite / "campaign.json").write_text(json.dumps(suite(cli.suite), indent=1, default=str))
    else:
        cli.table.mkdir(parents=True, exist_ok=True)
        trials = table(cli.table, cli.trials, cli.resume)
        (cli.table / "campaign.json").write_text(json.dumps(trials, indent=1, default=str))
