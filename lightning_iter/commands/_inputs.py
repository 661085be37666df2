"""Data flags of `analyze` (the papers' datasets from local files) and of `eval --heldout` / `repeat_sweep`
(held-out text from a file, so an `hf:DIR` checkpoint, which records no data module, gets NLL too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jsonargparse import ArgumentParser

from ..analysis.options import DATASET_SOURCES, DATASETS, DEFAULT_DATA, INPUTS, PAPER_INPUTS, SCORINGS
from ..errors import CheckpointError, ConfigError, check_choice
from ._common import str_list

if TYPE_CHECKING:  # torch and the analyses load once the arguments are parsed (a fast `--help`)
    import torch

    from ..analysis.inputs import DatasetInputs
    from ..loading import LoadedModel


def add_dataset_arguments(parser: ArgumentParser, defaults: Any) -> None:
    """`--inputs`, `--data`, one `--<dataset> FILE` per dataset, `--depth_score_sets`, `--intervention_scoring`."""
    parser.add_argument(
        "--inputs",
        type=str,
        default="files",
        help=f"{' or '.join(INPUTS)}: the papers' datasets from local files (default), or the run's own "
        "held-out split (every analysis on the same rows; our former behaviour)",
    )
    parser.add_argument(
        "--data",
        type=str | None,
        default=None,
        help=f"folder holding the datasets as <name>.jsonl/.json/.parquet or <name>/ (default {DEFAULT_DATA}); "
        f"names: {', '.join(DATASETS)}",
    )
    for name, (hub, fields) in DATASET_SOURCES.items():
        parser.add_argument(
            f"--{name}",
            type=str | None,
            default=None,
            help=f"{name} file or folder (fields {', '.join(fields)}, as in {hub}); overrides --data",
        )
    parser.add_argument(
        "--depth_score_sets",
        type=str_list,
        default=list(defaults.depth_score_sets),
        help="datasets the depth score is computed on (seed 004 App. B GSM8K, Fig. 1A MATH and MQuAKE)",
    )
    parser.add_argument(
        "--intervention_scoring",
        type=str,
        default=defaults.intervention_scoring,
        help="greedy (top-1, the papers) or choice (multiple choice, our evaluation's rule) for the primitive, "
        "in the interventions and the tuned lens's early exit",
    )
    parser.add_argument(
        "--heldout_data",
        type=str | None,
        default=None,
        help="with --inputs heldout: text documents (.txt/.jsonl/.parquet, field text) instead of the "
        "checkpoint's data module (an hf:DIR records none)",
    )


def needed(names: list[str], options: Any) -> list[tuple[str, str]]:
    """(analysis, dataset) pairs the chosen analyses will read, so a missing file fails before any work."""
    pairs = []
    for name in names:
        sets = list(PAPER_INPUTS.get(name, ()))
        if name == "depth_score":
            sets = list(options.depth_score_sets)
        elif name == "interventions" and options.intervention_items <= 0:
            sets = ["gsm8k"]
        elif name == "tuned_lens":
            sets = ["gsm8k"] + ([] if options.tuned_lens_path else ["fineweb_edu"])
            sets += ["lambada"] if options.n_items > 0 else []  # early exit on Lambada (seed 004 Fig. 8)
        pairs += [(name, s) for s in sets]
    return pairs


def analysis_inputs(
    cfg: Any, loaded: LoadedModel, names: list[str], options: Any
) -> tuple[torch.Tensor, DatasetInputs | None]:
    """(held-out rows or an empty [0, seq_len] tensor, the datasets or None) for `Context`."""
    import torch

    from ..analysis.datasets import document_rows
    from ..analysis.depth_report import check_sets
    from ..analysis.inputs import DatasetInputs, check_inputs

    window = int(loaded.model.config.max_seq_len)
    check_choice("--intervention_scoring", options.intervention_scoring, SCORINGS)
    if "depth_score" in names:
        check_sets(options.depth_score_sets)
    if check_inputs(cfg.inputs) == "heldout":
        given = [f"--{n}={cfg[n]}" for n in DATASETS if cfg[n] is not None]
        given += [f"--data={cfg.data}"] if cfg.data is not None else []
        if given:
            raise ConfigError(
                f"{given[0]} is only read with --inputs files (now --inputs heldout): drop it "
                "(--heldout_data FILE gives the held-out text)"
            )
        if cfg.heldout_data is not None:
            return document_rows(loaded.tokenizer, cfg.heldout_data, cfg.n_examples, cfg.seq_len), None
        return heldout_rows(loaded, cfg.n_examples, cfg.seq_len), None
    if cfg.heldout_data is not None:
        raise ConfigError(f"--heldout_data={cfg.heldout_data} is only read with --inputs heldout (now --inputs files)")
    if cfg.seq_len > window:
        raise ConfigError(f"--seq_len={cfg.seq_len} is not allowed: the model's window is {window} tokens")
    files = {name: cfg[name] for name in DATASETS}
    datasets = DatasetInputs(loaded.tokenizer, cfg.data, files, cfg.n_examples, cfg.seq_len)
    for analysis, dataset in needed(names, options):
        hint = f", or --depth_score_sets without {dataset}" if analysis == "depth_score" else ""
        datasets.path(analysis, dataset, hint)
    return torch.empty(0, cfg.seq_len, dtype=torch.long), datasets


def heldout_rows(loaded: LoadedModel, n_examples: int, seq_len: int) -> torch.Tensor:
    """The checkpoint's own held-out rows; a checkpoint without a data module gets the flags that help."""
    from ..analysis.inputs import heldout_tokens

    try:
        return heldout_tokens(loaded, n_examples, seq_len)
    except CheckpointError as err:
        raise CheckpointError(f"{err} with --heldout_data FILE, or use --inputs files (the papers' datasets)") from None


def add_heldout_data_argument(parser: ArgumentParser, flag: str, what: str) -> None:
    """`flag PATH`: held-out text documents for `what`, instead of the data module the checkpoint records."""
    parser.add_argument(
        flag,
        type=str | None,
        default=None,
        help=f"text documents (.txt, .jsonl or .parquet with a text field; file, folder or glob) for {what}, "
        "packed into rows of the model's window: instead of the checkpoint's data module (an hf:DIR records none)",
    )


def file_nll_batches(
    loaded: LoadedModel, path: str, max_batches: int | None, batch_size: int = 8
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) batches of `path`'s documents, rows of the model's window; at most `max_batches`."""
    from ..analysis.datasets import document_rows, nll_batches

    window = int(loaded.model.config.max_seq_len)
    n_rows = None if max_batches is None else max_batches * batch_size
    remedy = f"give more text (a row is the model's window + 1 = {window + 1} tokens)"
    return nll_batches(document_rows(loaded.tokenizer, path, n_rows, window + 1, remedy=remedy), batch_size)


def no_data_module_hint(loaded: LoadedModel, flag: str) -> Any:
    """The checkpoint's data module, or one line naming `flag` when it records none (e.g. hf:DIR)."""
    try:
        return loaded.build_datamodule()
    except CheckpointError as err:
        raise CheckpointError(f"{err} with {flag} FILE (held-out text documents)") from None
