"""`lightning_iter strategies`: the registered depth strategies (built-in and installed plugins), each with its
parameters, their defaults and one line of doc."""

from __future__ import annotations

import json
from collections.abc import Sequence


def main(argv: Sequence[str]) -> None:
    from jsonargparse import ArgumentParser

    from ._catalog import as_json, catalog, describe

    parser = ArgumentParser(prog="lightning_iter strategies", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=bool, default=False, help="print the listing as JSON")
    cfg = parser.parse_args(list(argv))
    infos = catalog()
    print(json.dumps(as_json(infos), indent=2) if cfg.json else describe(infos))
