"""`lightning_iter prepare`: tokenize local text/JSONL/Parquet files into litdata chunks of seq_len+1-token blocks."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from ._common import join_items


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter prepare", description=__doc__)
    parser.add_argument(
        "--files", type=str, nargs="+", required=True, help=".txt/.jsonl/.parquet files, directories or globs"
    )
    parser.add_argument(
        "--tokenizer",
        type=str,
        required=True,
        help="tokenizer.json (or a directory holding one, e.g. a Hugging Face model dir) or 'bytes'",
    )
    parser.add_argument("--out", type=str, required=True, help="output directory, or an object-store URL (s3://...)")
    parser.add_argument("--seq_len", type=int, default=2048, help="training sequence length (blocks are seq_len+1)")
    parser.add_argument("--field", type=str, default="text", help="JSONL field / Parquet column holding the text")
    parser.add_argument("--txt_split", type=str, default="file", help="a .txt document is a file, paragraph or line")
    parser.add_argument("--num_workers", type=int, default=4, help="parallel tokenizer processes")
    parser.add_argument(
        "--blocks_per_chunk",
        type=int | None,
        default=None,
        help="blocks per litdata chunk (default: about 64 MiB of tokens)",
    )
    parser.add_argument(
        "--model_vocab_size",
        type=int | None,
        default=None,
        help="fail early if the tokenizer needs more ids than the model will have",
    )
    parser.add_argument(
        "--overwrite",
        type=bool,
        default=False,
        help="replace an --out prepared from other inputs (only a directory prepare wrote; anything else is refused)",
    )
    parser.add_argument(
        "--encoding",
        type=str,
        default="utf-8",
        help="encoding of .txt/.jsonl inputs, decoded strictly (a bad byte is an error naming the file and offset)",
    )
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    from ..data.prepare import prepare_dataset
    from ..data.streaming import load_tokenizer

    tokenizer = load_tokenizer(cfg.tokenizer)
    prepare_dataset(
        join_items(cfg.files),
        tokenizer,
        cfg.out,
        seq_len=cfg.seq_len,
        field=cfg.field,
        txt_split=cfg.txt_split,
        num_workers=cfg.num_workers,
        blocks_per_chunk=cfg.blocks_per_chunk,
        model_vocab_size=cfg.model_vocab_size,
        overwrite=cfg.overwrite,
        encoding=cfg.encoding,
    )
