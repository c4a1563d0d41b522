"""``jaki train`` and ``jaki evaluate`` end to end on a tiny dataset file, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from jaki.cli import model as model_commands
from jaki.cli.main import app
from jaki.dataset import LoopDataset, save_dataset
from jaki.model import ModelConfig
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES
from jaki.train import TrainConfig
from jaki.weights import load_model

torch.set_num_threads(1)
runner = CliRunner()


def tiny_dataset(path: Path, n: int = 60, seed: int = 0, held_out: int = 10) -> Path:
    """Loops whose bar 2 repeats bar 1, over a few categories; ``held_out`` each in validation and test."""
    rng = np.random.default_rng(seed)
    bar1 = rng.integers(0, 6, size=(n, 16))
    hits = CATEGORY_PARTS[np.concatenate([bar1, bar1], axis=1)]
    text = np.full(n, "", dtype="<U1")
    dataset = LoopDataset(
        hits=hits,
        velocities=hits.astype(np.float32),
        offsets_ms=np.where(hits, 0.0, np.nan).astype(np.float32),
        source=np.array([f"loop{i}.mid" for i in range(n)]),
        groove=text,
        bar_index=np.zeros(n, dtype=np.int64),
        tempo=np.full(n, 120.0),
        style=text,
        drummer=text,
        kind=text,
        split=np.array(["train"] * (n - 2 * held_out) + ["validation"] * held_out + ["test"] * held_out),
    )
    save_dataset(dataset, path)
    return path


@pytest.fixture
def small_settings(monkeypatch):
    """Shrink the default model so the CLI trains in a second."""
    tiny = ModelConfig(embed_dim=8, hidden=8)
    monkeypatch.setattr(
        model_commands, "ModelConfig", lambda arch, **shape: ModelConfig(**{**vars(tiny), "arch": arch})
    )


def test_train_then_evaluate(tmp_path: Path, small_settings) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz")
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--epochs", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "epoch   2" in result.output and "saved" in result.output
    loaded = load_model(out)
    assert loaded.metadata["training"]["config"]["seed"] == 1
    assert loaded.metadata["training"]["config"]["logit_adjustment"] == 0.2 and loaded.model.logit_offset.any()
    assert loaded.metadata["dataset"]["loops"] == {"train": 40, "validation": 10, "test": 10}
    assert set(loaded.bands) == {"cymbal_density", "drum_density", "syncopation", "repetition"}
    assert "copy bar 1" in loaded.metadata["evaluation"]["rows"]

    again = runner.invoke(app, ["train", "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    plain = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--logit-adjustment", "0", "--force"])
    assert plain.exit_code == 0 and "with logit adjustment 0)" in plain.output
    assert not load_model(out).model.logit_offset.any()

    result = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data), "--json", "--train-orig"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    names = [row["name"] for row in report["rows"]]
    assert names == ["jaki (lstm)", model_commands.ORIG_BASELINE, "copy bar 1", "step frequencies", "conditional table"]
    assert report["n_loops"] == 10 and report["split"] == "test"
    copy = report["rows"][2]
    assert copy["nll"] == pytest.approx(-np.log(0.9)) and copy["accuracy"] == 1.0  # bar 2 = bar 1 here

    given = runner.invoke(app, ["evaluate", "-m", str(out), "--data", str(data), "--baseline-orig", str(out), "--json"])
    assert given.exit_code == 0 and model_commands.ORIG_BASELINE in given.output
    both = runner.invoke(app, ["evaluate", "--data", str(data), "--baseline-orig", str(out), "--train-orig"])
    assert both.exit_code == 2 and "not both" in both.output

    table = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data), "--split", "validation"])
    assert table.exit_code == 0 and "validation split (10 loops)" in table.output
    assert "no orig baseline" in table.output and "adjustment τ = 0;" in table.output  # retrained with 0 above


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["evaluate", "--model", "{tmp}/nowhere", "--data", "{data}"], "no such model folder"),
        (["evaluate", "--model", "{tmp}", "--data", "{data}"], "config.json is missing"),
        (["evaluate", "--data", "{tmp}/missing.npz"], "dataset file not found"),
        (["evaluate", "--data", "{data}", "--split", "dev"], "split 'dev'"),
        (["train", "--data", "{data}", "--out", "{tmp}/m", "--arch", "gru"], "--arch 'gru'"),
        (["train", "--data", "{tmp}/wrong.npz", "--out", "{tmp}/m"], "format version 0"),
        # click's own usage errors, one line too (typer would draw a box)
        (["train", "--out", "{tmp}/m"], "error: Missing option '--data'. (see 'jaki train --help')"),
        (["train", "--data", "{data}", "--out", "{tmp}/m", "--logit-adjustment", "-1"], "'--logit-adjustment'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz", n=30)
    wrong = dict(np.load(data, allow_pickle=False))
    wrong["meta"] = np.array(json.dumps({**json.loads(str(wrong["meta"])), "format_version": 0}))
    np.savez(tmp_path / "wrong.npz", **wrong)
    result = runner.invoke(app, [a.format(tmp=tmp_path, data=data) for a in arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.strip().count("\n") == 0


def test_train_config_round_trips_through_metadata() -> None:
    config = TrainConfig(epochs=3, max_minutes=1.5, seed=7)
    assert TrainConfig.from_dict({**vars(config), "unknown": 1}) == config
    assert N_CATEGORIES == 32
