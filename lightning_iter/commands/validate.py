"""`lightning_iter validate`: held-out loss of a checkpoint through LightningCLI (see `commands.fit`)."""

from __future__ import annotations

from collections.abc import Sequence

from .fit import run_lightning


def main(argv: Sequence[str]) -> None:
    run_lightning("validate", argv)
