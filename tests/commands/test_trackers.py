"""Experiment trackers through LightningCLI's `--trainer.logger`: CSV and MLflow (local file store) record the
depth and FLOPs scalars of a tiny growing fit, and the end message names the logger that was used."""

import csv
from pathlib import Path

from tests.commands.test_fit_runs import fit

DEPTH_SCALARS = ["depth/effective", "depth/unique_layers", "flops/training_cumulative", "train/loss"]


def test_csv_logger_writes_the_depth_scalars_into_the_run_directory(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, monkeypatch, "--trainer.logger", "lightning.pytorch.loggers.CSVLogger") == 0
    metrics = tmp_path / "runs" / "quickstart" / "version_0" / "metrics.csv"
    out = capsys.readouterr().out
    assert f"[lightning_iter] metrics: {metrics.resolve()}" in out and "tensorboard" not in out
    rows = list(csv.DictReader(metrics.open()))
    for name in DEPTH_SCALARS:
        assert any(row.get(name) for row in rows), name
    unique = [float(row["depth/unique_layers"]) for row in rows if row.get("depth/unique_layers")]
    assert unique[0] == 1.0 and unique[-1] == 3.0  # grown 1 -> 3 during the fit
    assert not list(tmp_path.rglob("events.out.tfevents*"))


def test_mlflow_logger_with_a_local_file_store_records_the_depth_scalars(tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    uri = f"file:{tmp_path / 'mlruns'}"
    logger = {
        "class_path": "lightning.pytorch.loggers.MLFlowLogger",
        "init_args": {"experiment_name": "tiny", "tracking_uri": uri},
    }
    assert fit(tmp_path, monkeypatch, "--trainer.logger", str(logger).replace("'", '"')) == 0
    out = capsys.readouterr().out
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.run_name == "quickstart"
    assert f"[lightning_iter] mlflow run {run.info.run_id}  (mlflow ui --backend-store-uri {uri})" in out
    for name in DEPTH_SCALARS:
        assert client.get_metric_history(run.info.run_id, name), name
    unique = [
        m.value for m in sorted(client.get_metric_history(run.info.run_id, "depth/unique_layers"), key=lambda m: m.step)
    ]
    assert unique[0] == 1.0 and unique[-1] == 3.0
    assert (Path(tmp_path) / "runs" / "quickstart" / "checkpoints" / "last.ckpt").is_file()
