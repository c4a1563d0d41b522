"""``jaki train-tuner`` and ``jaki evaluate-tuner`` end to end on a tiny model and dataset, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jaki.cli.main import app
from jaki.tuner import load_agent
from test_cli_model import tiny_dataset

runner = CliRunner()


def test_train_then_evaluate_the_tuner(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz")
    out = tmp_path / "agent"
    train = ["train-tuner", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out), "--steps", "6"]
    result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    agent = load_agent(out)
    assert agent.config.total_steps == 6 and agent.metadata["training"]["phases"][0]["vector_steps"] == 6
    assert agent.metadata["continuation_model"]["dir"] == str(tiny_model_dir)

    again = runner.invoke(app, train)
    assert again.exit_code == 2 and "exists (use --force to overwrite)" in again.output

    resumed = tmp_path / "resumed"
    document = json.loads((out / "agent.json").read_text())
    document["training"]["reproduce"] = ["a note kept beside the phases"]
    (out / "agent.json").write_text(json.dumps(document))
    result = runner.invoke(app, [*train[:-4], "--out", str(resumed), "--steps", "3", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    training = load_agent(resumed).metadata["training"]
    assert [phase["vector_steps"] for phase in training["phases"]] == [6, 3]
    assert training["reproduce"] == ["a note kept beside the phases"] and "reproduce" not in training["phases"][1]

    evaluate = ["evaluate-tuner", "--model", str(tiny_model_dir), "--data", str(data), "--agent", str(out)]
    evaluate += ["--ablation", str(out), "--seeds", "2", "--combos", "1", "--slow-cases", "4", "--refine-cases", "1"]
    programmed = tmp_path / "programmed.json"
    rows = {"kick": "x.......x.......", "snare": "....x.......x...", "closed": "x.x.x.x.x.x.x.x.", "open": "." * 16}
    programmed.write_text(json.dumps({"patterns": [{"bars": [{**rows, "toms": "." * 16}]}] * 2}))
    evaluate += ["--judge", str(tiny_model_dir), "--programmed", str(programmed)]
    result = runner.invoke(app, [*evaluate, "--refine-steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] == 2 * 4 and report["refine_cases"] == 1 and report["seed_set"] == "GMD test"
    methods = {row["method"] for row in report["rows"]}
    assert {"none", "random", "greedy", "agent", "refine", "ablation"} <= methods
    # The same model as judge: both columns agree; the two identical programmed bars are one seed.
    assert all(row["judge_log_likelihood"] == pytest.approx(row["mean_log_likelihood"]) for row in report["rows"])
    assert report["programmed"]["seeds"] == 1
    kept = {
        row["method"]: row["kick_one_kept"]
        for row in report["programmed"]["rows"]
        if row["requested_features"] == "all"
    }
    assert kept["agent"] >= kept["none"]  # tuning never drops the untuned bar's kick on beat 1
    assert len(report["real_anchor_rates"]) == 2

    programmed.write_text("{}")
    bad = runner.invoke(app, [*evaluate, "--json"])
    assert bad.exit_code == 2 and "not a programmed-pattern file" in bad.output


def test_bad_combos_is_an_input_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tiny_dataset(tmp_path / "tiny.npz")
    result = runner.invoke(app, ["evaluate-tuner", "--data", str(data), "--combos", "lots"])
    assert result.exit_code == 2 and "--combos 'lots'" in result.output


def test_an_empty_split_is_an_input_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    no_test = tiny_dataset(tmp_path / "no-test.npz", n=30, held_out=0)
    result = runner.invoke(app, ["evaluate-tuner", "--model", str(tiny_model_dir), "--data", str(no_test)])
    assert result.exit_code == 2 and "the test split is empty" in result.output
    no_train = tiny_dataset(tmp_path / "no-train.npz", n=20, held_out=10)
    out = tmp_path / "agent"
    result = runner.invoke(app, ["train-tuner", "--data", str(no_train), "--out", str(out)])
    assert result.exit_code == 2 and "the train split is empty" in result.output
    assert result.output.strip().count("\n") == 0 and not out.exists()
