"""`lightning_iter test`: LightningCLI's test loop over a checkpoint (see `commands.fit`)."""

from __future__ import annotations

from collections.abc import Sequence

from .fit import run_lightning


def main(argv: Sequence[str]) -> None:
    run_lightning("test", argv)
