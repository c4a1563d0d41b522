"""Model folders, agent folders and dataset files, damaged: each load works or is one JakiInputError line.

The named cases are the ones a fuzzing session met (issue 15, B1); the hypothesis tests damage the saved files at
random (a JSON value swapped or dropped, bytes flipped or cut, an array replaced behind a recomputed content hash),
with a bounded number of examples so that the suite stays fast.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from jaki.dataset import LoopDataset, load_dataset, save_dataset
from jaki.errors import JakiInputError
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR
from jaki.tuner.dqn import CONFIG_FILE as AGENT_CONFIG
from jaki.tuner.dqn import WEIGHTS_FILE as AGENT_WEIGHTS
from jaki.tuner.dqn import DQNConfig, QNetwork, TuningAgent, load_agent
from jaki.tuner.problem import RewardConfig
from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, load_model
from tuner.conftest import GMD_BANDS

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory) -> Path:
    config = DQNConfig(width=16, layers=1, heads=2, action_width=8)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("agents") / "tiny"
    TuningAgent(QNetwork(config), config, RewardConfig(), GMD_BANDS, {"note": "test"}).save(folder)
    return folder


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 12
    hits = rng.random((n, 2 * STEPS_PER_BAR, 5)) < 0.3
    dataset = LoopDataset(
        hits=hits,
        velocities=np.where(hits, 0.8, 0.0).astype(np.float32),
        offsets_ms=np.where(hits, 1.5, np.nan).astype(np.float32),
        source=np.array([f"f{i}.mid" for i in range(n)]),
        groove=np.array([""] * n),
        bar_index=np.arange(n, dtype=np.int64),
        tempo=np.full(n, 100.0),
        style=np.array(["funk"] * n),
        drummer=np.array([""] * n),
        kind=np.array(["beat"] * n),
        split=np.array(["train"] * 8 + ["validation"] * 2 + ["test"] * 2),
    )
    path = tmp_path_factory.mktemp("data") / "loops.npz"
    save_dataset(dataset, path)
    return path


def copied(folder: Path, into: Path) -> Path:
    target = into / folder.name
    shutil.copytree(folder, target)
    return target


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def assert_one_line(error: pytest.ExceptionInfo, *expected: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message, message
    for text in expected:
        assert text in message, message


# --- named cases ----------------------------------------------------------------------------------------------
MODEL_DAMAGE = {
    "nested JSON": (lambda d, f: (f / CONFIG_FILE).write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "NaN constant": (lambda d, f: (f / CONFIG_FILE).write_text('{"model": NaN}'), "NaN is not a JSON number"),
    "bool as text": (lambda d, f: edit_json(f / CONFIG_FILE, lambda c: c["model"].update(bidirectional="yes")),
                     "'model.bidirectional': 'yes' is not true or false"),
    "size as text": (lambda d, f: edit_json(f / CONFIG_FILE, lambda c: c["model"].update(hidden="big")),
                     "'model.hidden': 'big' is not an integer"),
    "huge size": (lambda d, f: edit_json(f / CONFIG_FILE, lambda c: c["model"].update(hidden=10**9)),
                  "'model.hidden': 1000000000 is outside 1..1024"),
    "dropout above 1": (lambda d, f: edit_json(f / CONFIG_FILE, lambda c: c["model"].update(dropout=2.0)),
                        "'model.dropout': 2.0 is outside 0..1"),
    "tuple item": (lambda d, f: edit_json(f / CONFIG_FILE, lambda c: c["model"].update(orig_encoder=[250, None])),
                   "'model.orig_encoder': None is not an integer"),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(MODEL_DAMAGE))
def test_a_damaged_model_config_is_one_line(tiny_model_dir, tmp_path, damage):
    change, expected = MODEL_DAMAGE[damage]
    folder = copied(tiny_model_dir, tmp_path)
    change(None, folder)
    with pytest.raises(JakiInputError) as error:
        load_model(folder)
    assert_one_line(error, str(folder / CONFIG_FILE), expected)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused(tiny_model_dir, agent_dir, tmp_path, bad):
    for folder, name, load in ((tiny_model_dir, WEIGHTS_FILE, load_model), (agent_dir, AGENT_WEIGHTS, load_agent)):
        folder = copied(folder, tmp_path / name)
        tensors = load_file(str(folder / name))
        first = sorted(key for key, tensor in tensors.items() if tensor.is_floating_point())[0]
        tensors[first] = (
            tensors[first].clone().reshape(-1).index_fill(0, torch.tensor([0]), bad).reshape(tensors[first].shape)
        )
        save_file(tensors, str(folder / name))
        with pytest.raises(JakiInputError) as error:
            load(folder)
        assert_one_line(error, f"tensor {first!r} holds NaN or infinite values")


AGENT_DAMAGE = {
    "heads torch asserts on": (lambda c: c["dqn"].update(heads=3), "bad agent config"),
    "learning rate as text": (lambda c: c["dqn"].update(learning_rate="fast"), "'dqn.learning_rate': 'fast' is not a number"),
    "closeness null": (lambda c: c["reward"].update(closeness=None), "'reward.closeness': None is not a number"),
    "no episodes": (lambda c: c["dqn"].update(n_envs=0), "'dqn.n_envs': 0 is outside 1..4096"),
    "steps as float": (lambda c: c["dqn"].update(total_steps=1.5), "'dqn.total_steps': 1.5 is not an integer"),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(AGENT_DAMAGE))
def test_a_damaged_agent_config_is_one_line(agent_dir, tmp_path, damage):
    change, expected = AGENT_DAMAGE[damage]
    folder = copied(agent_dir, tmp_path)
    edit_json(folder / AGENT_CONFIG, change)
    with pytest.raises(JakiInputError) as error:
        load_agent(folder)
    assert_one_line(error, str(folder / AGENT_CONFIG), expected)


def rewrite_dataset(original: Path, target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Replace arrays of a dataset file and recompute its content hash, so that only the value checks can catch it."""
    with np.load(original, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    contents.update(arrays)
    meta = json.loads(str(contents.pop("meta")))
    names = [n for n in contents if n != "meta"]
    with contextlib.suppress(ValueError, TypeError):  # inconsistent arrays: the loader must say so without the hash
        meta["content_hash"] = LoopDataset(**{n: contents[n] for n in names}).content_hash()
    with target.open("wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **contents)


DATASET_DAMAGE = {
    "velocity 2": (lambda d: {"velocities": np.where(d["hits"], 2.0, 0.0).astype(np.float32)}, "velocities outside 0..1"),
    "velocity NaN": (lambda d: {"velocities": np.full(d["hits"].shape, np.nan, np.float32)}, "velocities outside 0..1"),
    "inf offset": (lambda d: {"offsets_ms": np.full(d["hits"].shape, np.inf, np.float32)}, "timing offsets infinite"),
    "zero tempo": (lambda d: {"tempo": np.zeros(len(d["hits"]))}, "tempos not finite and positive"),
    "0-d hits": (lambda d: {"hits": np.array(True)}, "inconsistent dataset"),
    "no loops": (lambda d: {name: value[:0] for name, value in d.items() if name != "meta"}, "holds no loops"),
    "unknown kind": (lambda d: {"kind": np.array(["solo"] * len(d["hits"]))}, "unknown loop kind"),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DATASET_DAMAGE))
def test_a_dataset_out_of_range_behind_a_valid_hash_is_one_line(dataset_file, tmp_path, damage):
    change, expected = DATASET_DAMAGE[damage]
    with np.load(dataset_file, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    target = tmp_path / "damaged.npz"
    rewrite_dataset(dataset_file, target, change(arrays))
    with pytest.raises(JakiInputError) as error:
        load_dataset(target)
    assert_one_line(error, str(target), expected)


def test_an_npy_renamed_npz_is_one_line(tmp_path):
    path = tmp_path / "array.npz"
    with path.open("wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(JakiInputError) as error:
        load_dataset(path)
    assert_one_line(error, "not an .npz archive")


# --- fuzz -----------------------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def paths_in(document: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a JSON document (dict keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths_in(value, (*prefix, index))
    return found


@st.composite
def json_damage(draw, document: dict) -> dict:
    """The document with 1-3 values swapped for random JSON or removed."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_in(document)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        holder = document
        for key in parents:
            holder = holder[key]
        if draw(st.booleans()) or not isinstance(holder, dict):
            holder[last] = draw(JSON_VALUES)
        else:
            del holder[last]
    return document


def byte_damage(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if draw(st.booleans()):
            del data[at:]
        elif data:
            data[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def check_loaded_model(loaded) -> None:
    bar1 = torch.randint(0, N_CATEGORIES, (3, STEPS_PER_BAR), generator=torch.Generator().manual_seed(0))
    bar2 = loaded.model.generate(bar1, greedy=True)
    assert bar2.shape == (3, STEPS_PER_BAR) and int(bar2.min()) >= 0 and int(bar2.max()) < N_CATEGORIES
    assert torch.isfinite(loaded.model.log_likelihood(bar1, bar2)).all()


def one_line_or(load: Callable[[Path], object], folder: Path, check: Callable[[object], None]) -> None:
    try:
        loaded = load(folder)
    except JakiInputError as error:
        assert str(error) and "\n" not in str(error)
    else:
        check(loaded)


def damage_folder(data: st.DataObject, source: Path, scratch: Path, config_file: str, weights_file: str) -> Path:
    """A copy of a saved folder with its JSON config or its safetensors damaged."""
    folder = copied(source, scratch)
    if data.draw(st.booleans(), label="damage the config (else the weights)"):
        document = json.loads((folder / config_file).read_text())
        (folder / config_file).write_text(json.dumps(data.draw(json_damage(document))))
    else:
        weights = folder / weights_file
        weights.write_bytes(byte_damage(data.draw, weights.read_bytes()))
    return folder


@FUZZ
@given(data=st.data())
def test_damaged_model_folders_load_or_fail_in_one_line(tiny_model_dir, data):
    with tempfile.TemporaryDirectory() as scratch:
        folder = damage_folder(data, tiny_model_dir, Path(scratch), CONFIG_FILE, WEIGHTS_FILE)
        one_line_or(load_model, folder, check_loaded_model)


@FUZZ
@given(data=st.data())
def test_damaged_agent_folders_load_or_fail_in_one_line(agent_dir, data):
    with tempfile.TemporaryDirectory() as scratch:
        folder = damage_folder(data, agent_dir, Path(scratch), AGENT_CONFIG, AGENT_WEIGHTS)
        one_line_or(load_agent, folder, lambda agent: None)


ARRAY_NAMES = ("hits", "velocities", "offsets_ms", "tempo", "bar_index", "split", "kind", "source")


@st.composite
def array_damage(draw, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One array swapped for another dtype, shape or values (NaN, ±inf, huge, negative, unknown text)."""
    name = draw(st.sampled_from(ARRAY_NAMES))
    original = arrays[name]
    kind = draw(st.sampled_from(["values", "shape", "dtype"]))
    if kind == "shape":
        shape = draw(st.sampled_from([(), (0,), (len(original) + 1,), (*original.shape, 2), original.shape[:1]]))
        return {name: np.zeros(shape, dtype=original.dtype)}
    if kind == "dtype":
        return {
            name: np.zeros(original.shape, draw(st.sampled_from([np.int8, np.float16, np.float64, np.bool_, "U3"])))
        }
    if original.dtype.kind == "U":
        return {name: np.full(original.shape, draw(st.text(max_size=4)))}
    value = draw(st.sampled_from([np.nan, np.inf, -np.inf, -1, 1e30, 2, 0]))
    if original.dtype == np.bool_:
        return {name: np.zeros_like(original)}
    changed = original.astype(np.float64).copy().reshape(-1)
    changed[draw(st.integers(0, changed.size - 1))] = value
    return {name: changed.reshape(original.shape).astype(original.dtype)}


@FUZZ
@given(data=st.data())
def test_damaged_datasets_load_or_fail_in_one_line(dataset_file, data):
    with np.load(dataset_file, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "damaged.npz"
        if data.draw(st.booleans(), label="damage an array (else the bytes)"):
            with np.errstate(invalid="ignore", over="ignore"):
                rewrite_dataset(dataset_file, target, data.draw(array_damage(arrays)))
        else:
            target.write_bytes(byte_damage(data.draw, dataset_file.read_bytes()))

        def check(dataset: LoopDataset) -> None:
            assert len(dataset) > 0 and np.isfinite(dataset.velocities).all()
            assert dataset.velocities.min() >= 0 and dataset.velocities.max() <= 1 and dataset.tempo.min() > 0
            dataset.training_arrays("train")

        one_line_or(load_dataset, target, check)
