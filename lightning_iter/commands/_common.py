"""Arguments shared by the inference commands (`eval`, `generate`, `analyze`, `export`), and the one list syntax.

Every list flag takes comma-separated values, `--tasks a,b` (docs/cli.md); `[a, b]` is read the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jsonargparse import ArgumentParser

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..loading import LoadedModel


def add_model_arguments(parser: ArgumentParser, ckpt_required: bool = True) -> None:
    """`--ckpt_path`, `--repeat`, `--device`, `--dtype`: which model to load and how to run it."""
    parser.add_argument(
        "--ckpt_path",
        type=str if ckpt_required else str | None,
        required=ckpt_required,
        help="checkpoint written by `lightning_iter fit` (or a registered source such as hf:DIR)",
    )
    parser.add_argument(
        "--repeat",
        type=str | None,
        default=None,
        help="repeat plan positions START..END-1 EXTRA more times, e.g. 8:12x2 (no weights copied)",
    )
    parser.add_argument("--device", type=str, default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--dtype", type=str | None, default=None, help="float32, bfloat16 or float16 (default: as saved)"
    )


def load_from_arguments(cfg: Any) -> LoadedModel:
    """Load the model named by the parsed `add_model_arguments` options."""
    from ..loading import load_model  # torch: only once the arguments are parsed (a fast `--help`)

    return load_model(cfg.ckpt_path, repeat=cfg.repeat, device=cfg.device, dtype=cfg.dtype)


def split_list(text: str) -> list[str]:
    """`a,b,c` (or `[a, b, c]`, quotes allowed) -> `["a", "b", "c"]`: the items of one list flag's value."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part.strip().strip("'\"").strip() for part in text.split(",") if part.strip().strip("'\"").strip()]


def parse_list(text: str | None, field: str, convert: type = str) -> list[Any] | None:
    """`a,b,c` -> list; `all` or empty -> None (every value); `none` -> []."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    if text.strip().lower() == "none":
        return []
    try:
        return [convert(part) for part in split_list(text)]
    except ValueError:
        raise ConfigError(
            f"--{field}={text!r} is not allowed: give a comma-separated list of {convert.__name__}, e.g. --{field} "
            + ("1,2" if convert is int else "a,b")
        ) from None


def join_items(values: list[str] | None) -> list[str] | None:
    """A space-separated flag's values (shell globs expand that way) with comma-separated ones split too."""
    if values is None:
        return None
    return [item for value in values for item in split_list(value)]


def str_list(text: str) -> list[str]:
    """jsonargparse type of a list-of-strings flag: `a,b` (or `[a, b]`)."""
    return split_list(str(text))


def int_list(text: str) -> list[int]:
    """jsonargparse type of a list-of-integers flag: `1,2` (or `[1, 2]`)."""
    try:
        return [int(part) for part in split_list(str(text))]
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of integers, e.g. 1,2") from None
