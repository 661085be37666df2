"""litdata streaming from `s3://`, against a real S3 API served locally (moto's server on 127.0.0.1):
`lightning_iter prepare` writes the bucket, `StreamingDataModule` trains from it, and a fit resumed from an S3
run's checkpoint ends with the same weights as an uninterrupted fit on the same data in a local directory."""

import boto3
import pytest
import torch
import yaml
from moto.server import ThreadedMotoServer

from lightning_iter.cli import main
from tests.helpers import SMALL

SEQ = 16


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A moto S3 server on a free 127.0.0.1 port, with the AWS variables boto3 (and so litdata) reads."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    boto3.client("s3").create_bucket(Bucket="corpus")
    yield url
    server.stop()


def corpus(tmp_path):
    text = tmp_path / "prose.txt"
    words = "the cat sat on the mat while a dog ran past the old red barn and then it rained"
    text.write_text("\n\n".join(f"{i}: {words}" for i in range(40)))
    return text


def prepare(text, out) -> None:
    args = ["prepare", "--files", str(text), "--tokenizer", "bytes", "--out", out, "--seq_len", str(SEQ)]
    assert main([*args, "--num_workers", "1", "--blocks_per_chunk", "32"]) == 0


def fit(tmp_path, monkeypatch, source, run_name, max_steps, *extra):
    """A 2-layer model on one prepared source; the run's `last.ckpt` weights."""
    monkeypatch.chdir(tmp_path)
    config = {
        "trainer": {
            "accelerator": "cpu",
            "precision": "32-true",
            "max_steps": max_steps,
            "logger": False,
            "enable_progress_bar": False,
            "limit_val_batches": 0,
            "default_root_dir": "runs",
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"every_n_train_steps": 2, "save_last": True, "save_top_k": -1},
                }
            ],
        },
        "model": {"arch": "tiny", "arch_overrides": {**SMALL, "n_layers": 2}, "warmup_steps": 1},
        "data": {
            "class_path": "lightning_iter.data.StreamingDataModule",
            "init_args": {
                "sources": {"prose": source},
                "tokenizer": "bytes",
                "seq_len": SEQ,
                "batch_size": 2,
                "val_size": 2,
                "cache_dir": str(tmp_path / f"cache-{run_name}"),
            },
        },
    }
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(path), "--run_name", run_name, *extra]) == 0
    ckpt = tmp_path / "runs" / run_name / "checkpoints" / "last.ckpt"
    return torch.load(ckpt, map_location="cpu", weights_only=False)


@pytest.mark.slow  # a moto server, two prepares and three tiny fits: ~20-30 s on 2 busy cores
def test_prepare_stream_and_resume_through_s3_match_a_local_directory(tmp_path, monkeypatch, s3_endpoint):
    text = corpus(tmp_path)
    prepare(text, str(tmp_path / "local"))
    prepare(text, "s3://corpus/prose")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="corpus")["Contents"]]
    assert "prose/index.json" in keys and any(k.endswith(".bin") for k in keys)

    local = fit(tmp_path, monkeypatch, str(tmp_path / "local"), "local", 6)
    first = fit(tmp_path, monkeypatch, "s3://corpus/prose", "s3", 4)
    assert first["global_step"] == 4
    resumed = fit(tmp_path, monkeypatch, "s3://corpus/prose", "s3", 6, "--ckpt_path", "last")
    assert resumed["global_step"] == local["global_step"] == 6
    assert list(resumed["state_dict"]) == list(local["state_dict"])
    for name, value in local["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    assert any((tmp_path / "cache-s3").rglob("*.bin"))  # the chunks came through litdata's object-store cache
