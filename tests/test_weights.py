"""Saving and loading models: an exact round trip, the shipped model, and one-line errors for bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from jaki.errors import JakiInputError
from jaki.features import LEVELS, TUNER_FEATURES
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import N_CATEGORIES
from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model

torch.set_num_threads(1)

BANDS = {feature: {level: [float(i), float(i)] for i, level in enumerate(LEVELS)} for feature in TUNER_FEATURES}


def saved_model(directory: Path, arch: str = "lstm") -> ContinuationModel:
    torch.manual_seed(0)
    model = ContinuationModel(ModelConfig(arch=arch, embed_dim=8, hidden=12, orig_encoder=(10, 6))).eval()
    model.set_logit_adjustment(np.arange(1.0, N_CATEGORIES + 1), 0.2)  # the round trip must keep the offset
    save_model(model, directory, metadata={"bands": BANDS, "dataset": {"content_hash": "abc"}})
    return model


@pytest.mark.parametrize("arch", ["lstm", "orig"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch: str) -> None:
    model = saved_model(tmp_path / "m", arch)
    loaded = load_model(tmp_path / "m")
    assert loaded.config == model.config and not loaded.model.training
    bar1, bar2 = (torch.randint(0, N_CATEGORIES, (6, 16), generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    assert torch.equal(loaded.model.log_likelihood(bar1, bar2), model.log_likelihood(bar1, bar2))
    assert torch.equal(loaded.model.generate(bar1, greedy=True), model.generate(bar1, greedy=True))
    assert loaded.metadata["dataset"]["content_hash"] == "abc"
    # Weights get the same permissions as any other file jaki writes (not owner-only).
    assert (tmp_path / "m" / WEIGHTS_FILE).stat().st_mode == (tmp_path / "m" / CONFIG_FILE).stat().st_mode
    assert loaded.bands["syncopation"]["high"].lo == 2.0


def test_float16_weights_load_as_float32(tmp_path: Path) -> None:
    model = saved_model(tmp_path)
    half = {name: tensor.half() for name, tensor in model.state_dict().items()}
    save_file(half, str(tmp_path / WEIGHTS_FILE))
    loaded = load_model(tmp_path).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    bar1 = torch.zeros(1, 16, dtype=torch.long)
    torch.testing.assert_close(loaded(bar1, bar1), model(bar1, bar1), atol=1e-2, rtol=1e-2)


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    model = saved_model(tmp_path)
    with pytest.raises(JakiInputError, match="exists"):
        save_model(model, tmp_path, metadata={})
    save_model(model, tmp_path, metadata={"note": "again"}, overwrite=True)
    assert load_model(tmp_path).metadata["note"] == "again"
    with pytest.raises(ValueError, match="reserved"):
        save_model(model, tmp_path / "x", metadata={"model": {}})


def test_the_shipped_model_loads_with_bands() -> None:
    loaded = load_model()
    assert loaded.config.arch == "lstm"
    assert set(loaded.bands) == set(TUNER_FEATURES)
    training = loaded.metadata["training"]
    assert training["epochs_run"] == len(training["val_loss"]) and training["best_epoch"] <= training["epochs_run"]
    assert loaded.config.conditions == ("programmed", "fill", "position") and not loaded.decoding.greedy
    assert loaded.metadata["dataset"]["loops"]["train"] > 10_000
    bar1 = torch.zeros(1, 16, dtype=torch.long)
    assert loaded.model.generate(bar1, greedy=True).shape == (1, 16)
    assert loaded.metadata["training"]["config"]["logit_adjustment"] > 0 and loaded.model.logit_offset.any()


def _drop_tensor(directory: Path, name: str) -> None:
    tensors = load_file(str(directory / WEIGHTS_FILE))
    del tensors[name]
    save_file(tensors, str(directory / WEIGHTS_FILE))


def _edit_config(directory: Path, **changes) -> None:
    document = json.loads((directory / CONFIG_FILE).read_text())
    document.update(changes)
    (directory / CONFIG_FILE).write_text(json.dumps(document))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / CONFIG_FILE).unlink(), "config.json is missing"),
        (lambda d: (d / WEIGHTS_FILE).unlink(), "model.safetensors is missing"),
        (lambda d: (d / CONFIG_FILE).write_text("{not json"), "not JSON"),
        (lambda d: (d / CONFIG_FILE).write_text("[1, 2]"), "JSON object"),
        (lambda d: (d / WEIGHTS_FILE).write_bytes(b"\x00" * 40), "not a readable safetensors"),
        (lambda d: _edit_config(d, format_version=99), "format_version 99"),
        (lambda d: _edit_config(d, category_labels=["r", "k"]), "category_labels"),
        (lambda d: _edit_config(d, model={"arch": "lstm", "hidden": 13, "embed_dim": 8}), "do not fit"),
        (lambda d: _drop_tensor(d, "logit_offset"), r"do not fit.*Missing key.*logit_offset"),
        (lambda d: _edit_config(d, model={"arch": "gru"}), "bad model config"),
        (lambda d: _edit_config(d, model={"layers": 3}), "keys from"),
        (lambda d: _edit_config(d, model={"hidden": "big"}), "bad model config"),
    ],
)
def test_bad_model_folders_raise_one_line_errors(tmp_path: Path, damage, message: str) -> None:
    saved_model(tmp_path)
    damage(tmp_path)
    with pytest.raises(JakiInputError, match=message) as error:
        load_model(tmp_path)
    assert "\n" not in str(error.value)


def test_missing_folder_and_missing_bands(tmp_path: Path) -> None:
    with pytest.raises(JakiInputError, match="no such model folder"):
        load_model(tmp_path / "absent")
    torch.manual_seed(0)
    save_model(ContinuationModel(ModelConfig(embed_dim=4, hidden=4)), tmp_path, metadata={})
    with pytest.raises(JakiInputError, match="no 'bands'"):
        _ = load_model(tmp_path).bands
    assert torch.isfinite(load_model(tmp_path).model.log_likelihood(np.zeros((1, 16)), np.zeros((1, 16)))).all()
