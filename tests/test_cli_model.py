"""``jaki train`` and ``jaki evaluate`` end to end on a tiny dataset file, and their one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner, Result

from jaki.cli import model as model_commands
from jaki.cli.main import app
from jaki.dataset import LoopDataset, load_dataset, save_dataset
from jaki.evaluation import RANDOM_FLIPS, frequency_table, score_step_table
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES
from jaki.train import TrainConfig, mean_step_loss
from jaki.weights import CONFIG_FILE, load_model

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
        model_commands,
        "ModelConfig",
        lambda arch, conditions=(), **shape: ModelConfig(**{**vars(tiny), "arch": arch, "conditions": conditions}),
    )


def test_train_then_evaluate(tmp_path: Path, small_settings) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz")
    out = tmp_path / "model"
    options = ["--epochs", "2", "--seed", "1", "--batch-size", "32"]
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    assert "epoch   2" in result.output and "saved" in result.output
    loaded = load_model(out)
    assert loaded.metadata["training"]["config"]["seed"] == 1
    assert loaded.metadata["training"]["config"]["batch_size"] == 32
    assert loaded.metadata["training"]["config"]["logit_adjustment"] == 0.2 and loaded.model.logit_offset.any()
    assert loaded.metadata["dataset"]["loops"] == {"train": 40, "validation": 10, "test": 10}
    assert set(loaded.bands) == {"cymbal_density", "drum_density", "syncopation", "repetition"}
    assert "copy bar 1" in loaded.metadata["evaluation"]["rows"]
    assert loaded.config.conditions == ("programmed", "fill", "position")  # the default: every condition
    assert loaded.metadata["training"]["examples"]["loops"] == 80  # 40 as played + 40 programmed copies
    assert loaded.decoding.greedy  # no --temperature: the saved default is the most likely bar

    again = runner.invoke(app, ["train", "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    plain = runner.invoke(app, ["train", "--data", str(data), "--out", str(out), "--logit-adjustment", "0", "--force"])
    assert plain.exit_code == 0 and "with logit adjustment 0)" in plain.output
    assert not load_model(out).model.logit_offset.any()

    result = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data), "--json", "--train-orig"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    names = [row["name"] for row in report["rows"]]
    assert names == [
        "jaki (lstm)",
        model_commands.ORIG_BASELINE,
        RANDOM_FLIPS,
        "copy bar 1",
        "step frequencies",
        "conditional table",
    ]
    assert report["n_loops"] == 10 and report["split"] == "test"
    copy = report["rows"][3]
    assert copy["nll"] == pytest.approx(-np.log(0.9)) and copy["accuracy"] == 1.0  # bar 2 = bar 1 here

    given = runner.invoke(app, ["evaluate", "-m", str(out), "--data", str(data), "--baseline-orig", str(out), "--json"])
    assert given.exit_code == 0 and model_commands.ORIG_BASELINE in given.output
    both = runner.invoke(app, ["evaluate", "--data", str(data), "--baseline-orig", str(out), "--train-orig"])
    assert both.exit_code == 2 and "not both" in both.output

    table = runner.invoke(app, ["evaluate", "--model", str(out), "--data", str(data), "--split", "validation"])
    assert table.exit_code == 0 and "validation split (10 loops)" in table.output
    assert "no orig baseline" in table.output and "adjustment τ = 0;" in table.output  # retrained with 0 above


PAIRS = {
    "patterns": [
        {"id": "A", "bars": [{"kick": "x.......x.......", "snare": "....x.......x..."}]},
        {"id": "B", "bars": [{"kick": "x.......x.x.....", "snare": "....x.......x..x"}]},
        {"id": "AB", "bars": [{"kick": "x...x...x...x..."}, {"kick": "x...x...x...x.x."}]},
    ],
    "pairs": [["A", "B", "a note"], ["B", "A"]],
}


def test_train_under_torchrun_with_two_processes_learns_and_saves_once(tmp_path: Path) -> None:
    """``jaki train`` unchanged under torchrun: 2 CPU processes (gloo) share the steps, rank 0 alone reports and
    writes, the same seed gives the same weights, and the model loads and beats its untrained self and the train
    split's step frequencies on the validation loops."""
    data = tiny_dataset(tmp_path / "tiny.npz", n=300, held_out=20)
    jaki = Path(sys.executable).with_name("jaki")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--no-python", str(jaki)]
    options = ["--data", str(data), "--epochs", "12", "--hidden", "16", "--seed", "1"]
    for name in ("model", "again"):
        run = subprocess.run(
            [*command, "train", *options, "--out", str(tmp_path / name)], capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.count("saved") == 1 and run.stderr.count("epoch  12") == 1
        assert "× 2 processes" in run.stderr
    out = tmp_path / "model"
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "again" / "model.safetensors").read_bytes()
    loaded = load_model(out)
    assert loaded.metadata["training"]["processes"] == 2
    assert loaded.metadata["training"]["epochs_run"] == 12
    dataset = load_dataset(data)
    validation = dataset.training_arrays("validation")
    bar1, bar2 = (torch.as_tensor(a) for a in validation)
    torch.manual_seed(1)
    untrained = mean_step_loss(ContinuationModel(loaded.config), bar1, bar2)
    trained = mean_step_loss(loaded.model, bar1, bar2)
    frequencies = np.broadcast_to(frequency_table(dataset.training_arrays("train")[1]), (len(bar1), 16, N_CATEGORIES))
    baseline = score_step_table("frequencies", frequencies, validation, np.random.default_rng(0)).nll
    assert trained < 0.5 * baseline < untrained


def test_evaluate_on_pattern_pairs_reports_how_bar_2_varies(tmp_path: Path, small_settings) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(PAIRS))
    out = tmp_path / "model"
    data = tiny_dataset(tmp_path / "tiny.npz")
    trained = runner.invoke(
        app, ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--temperature", "1", "--top-p", "0.9"]
    )
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["evaluate", "--model", str(out), "--pairs", str(pairs), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["n_loops"] == 3 and report["split"] == "pairs.json"  # 2 listed pairs + 1 two-bar pattern
    names = [row["name"] for row in report["rows"]]
    assert names == ["jaki (lstm)", "jaki (lstm), most likely bar", RANDOM_FLIPS, "copy bar 1"]
    # A → B adds a kick and a snare, B → A removes them, AB's bar 2 adds a kick: 5 cells over 3 pairs.
    assert report["real"]["cells_changed"] == pytest.approx(5 / 3) and report["real"]["copies"] == 0.0
    assert report["real"]["added"]["kick"] == pytest.approx(2 / 3)
    table = runner.invoke(app, ["evaluate", "--model", str(out), "--pairs", str(pairs)])
    assert table.exit_code == 0 and "real bar 2" in table.output and "sampled at T = 1, top-p 0.9" in table.output


@pytest.mark.parametrize(
    "document, message",
    [
        ("[1, 2]", "expected a JSON object with a 'patterns' list"),
        ('{"patterns": [{"id": "A", "bars": [{"kick": "x..."}]}], "pairs": []}', "must have 16 steps"),
        ('{"patterns": [{"id": "A", "bars": [{"cowbell": "x"}]}]}', "expected an object of 16-step grids"),
        ('{"patterns": [{"id": "A", "bars": [{}]}], "pairs": [["A", "Z"]]}', "no pattern with bars has the id 'Z'"),
        ('{"patterns": [{"id": "A", "bars": [{}]}], "pairs": []}', "holds no pairs"),
        (
            '{"patterns": [{"id": "A", "bars": [{"kick": "x..............o"}]}]}',
            "part 'kick' step 16: expected 'x' or '.', got 'o'",
        ),
        ("[" * 100_000, "unreadable or not JSON"),
    ],
)
def test_bad_pairs_files_are_one_line_errors(tmp_path: Path, document: str, message: str) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(document)
    result = runner.invoke(app, ["evaluate", "--pairs", str(pairs)])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.strip().count("\n") == 0


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
        (["train", "--data", "{data}", "--out", "{tmp}/m", "--conditions", "tempo"], "--conditions 'tempo'"),
        (["evaluate"], "give --data DATASET"),
        (["evaluate", "--pairs", "{tmp}/none.json"], "no such pairs file"),
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


def evaluate_with_training_config(tmp_path: Path, model_dir: Path, config: dict, *options: str) -> tuple[Path, Result]:
    """``jaki evaluate --train-orig`` on a copy of ``model_dir`` whose training record holds ``config``."""
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    document = json.loads((model / CONFIG_FILE).read_text())
    document["training"] = {"config": config}
    (model / CONFIG_FILE).write_text(json.dumps(document))
    data = tiny_dataset(tmp_path / "tiny.npz")
    return model, runner.invoke(app, ["evaluate", "--data", str(data), "--model", str(model), "--train-orig", *options])


def test_a_training_record_of_the_wrong_type_is_one_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    """evaluate --train-orig trains the baseline with the model's recorded budget: a damaged record stops it first."""
    model, result = evaluate_with_training_config(tmp_path, tiny_model_dir, {"epochs": 1, "learning_rate": "fast"})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {model / CONFIG_FILE}: bad training record ('training.config.learning_rate': 'fast' is not a number)"
    )


def test_train_orig_runs_on_the_cpu_when_the_model_was_trained_on_a_gpu(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A record from a torchrun/NCCL run names its GPU: the orig baseline takes its budget, not its device."""
    _, result = evaluate_with_training_config(tmp_path, tiny_model_dir, {"epochs": 1, "device": "cuda:0"}, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert model_commands.ORIG_BASELINE in [row["name"] for row in report["rows"]]
