"""Saving and loading a continuation model: ``model.safetensors`` (tensors only) + ``config.json`` (everything else).

Nothing is ever unpickled: safetensors holds raw tensors and the JSON holds the ``ModelConfig`` fields that rebuild
the module, the category order the weights were trained on (checked on load: a reordered codec would silently
scramble every prediction), the level bands of the training data, and the figures of how it was trained and scored.
The tuning agent is saved the same way and read with the same checked helpers (``read_config``,
``config_dataclass``, ``load_weights``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import TypeVar, Union, get_args, get_origin, get_type_hints

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from jaki.decoding import MOST_LIKELY, Decoding
from jaki.errors import JakiInputError
from jaki.features import FeatureBands, bands_from_json
from jaki.io import check_output_folder, read_bounded, staged_folder
from jaki.model import ContinuationModel, ModelConfig
from jaki.pattern import CATEGORY_LABELS

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
SHIPPED_MODEL = "assets/continuation"  # inside the jaki package
RESERVED_KEYS = ("format_version", "model", "category_labels")

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference (eval mode), its config and the whole config.json as ``metadata``."""

    model: ContinuationModel
    config: ModelConfig
    metadata: dict
    decoding: Decoding = MOST_LIKELY  # how it plays by default: config.json's "decoding" (none: the most likely bar)

    @property
    def bands(self) -> FeatureBands:
        """The low / medium / high bands of the data the model was trained on."""
        if "bands" not in self.metadata:
            raise JakiInputError(f"{CONFIG_FILE}: has no 'bands' (expected the level bands of the training data)")
        return bands_from_json(self.metadata["bands"])


def save_model(model: ContinuationModel, directory: Path, *, metadata: dict, overwrite: bool = False) -> None:
    """Write ``directory/model.safetensors`` and ``directory/config.json`` (the folder is created if missing).

    ``metadata`` (bands, dataset hash, training and evaluation figures…) is stored beside the reserved keys.
    """
    clashes = sorted(set(metadata) & set(RESERVED_KEYS))
    if clashes:
        raise ValueError(f"metadata may not set the reserved keys {clashes}")
    document = {
        "format_version": FORMAT_VERSION,
        "model": asdict(model.config),
        "category_labels": list(CATEGORY_LABELS),
        **metadata,
    }
    save_folder(model, document, directory, weights_file=WEIGHTS_FILE, config_file=CONFIG_FILE, overwrite=overwrite)


def save_folder(
    module: nn.Module, document: dict, directory: Path, *, weights_file: str, config_file: str, overwrite: bool
) -> None:
    """The one writer of saved folders (the model's, the agent's): the module's tensors as safetensors and
    ``document`` as JSON, both checked before the first is written and written together
    (:func:`jaki.io.staged_folder`: an interrupted save leaves both files or neither)."""
    directory = Path(directory)
    check_output_folder(directory, (weights_file, config_file), overwrite=overwrite)
    tensors = {name: tensor.detach().contiguous() for name, tensor in module.state_dict().items()}
    with staged_folder(directory, overwrite=overwrite) as staging:
        # save() gives bytes, so the file gets the user's usual permissions (save_file makes it owner-only).
        (staging / weights_file).write_bytes(save(tensors))
        (staging / config_file).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load_model(directory: Path | str | None = None) -> LoadedModel:
    """Load a saved model folder; ``None`` loads the model shipped inside the package."""
    if directory is None:
        with resources.as_file(resources.files("jaki").joinpath(SHIPPED_MODEL)) as shipped:
            return _load(Path(shipped))
    return _load(Path(directory))


def _load(directory: Path) -> LoadedModel:
    if not directory.is_dir():
        raise JakiInputError(
            f"{directory}: no such model folder (expected a folder with {CONFIG_FILE} + {WEIGHTS_FILE})"
        )
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise JakiInputError(f"{directory}: {path.name} is missing (expected {CONFIG_FILE} + {WEIGHTS_FILE})")
    document = read_config(config_path)
    if document.get("format_version") != FORMAT_VERSION:
        raise JakiInputError(
            f"{config_path}: format_version {document.get('format_version')!r} (expected {FORMAT_VERSION})"
        )
    if document.get("category_labels") != list(CATEGORY_LABELS):
        raise JakiInputError(f"{config_path}: category_labels differ from this jaki's category order")
    config = config_dataclass(ModelConfig, document.get("model"), config_path, key="model", what="model config")
    decoding = MOST_LIKELY
    if "decoding" in document:
        decoding = config_dataclass(Decoding, document["decoding"], config_path, key="decoding", what="decoding")
    model = load_weights(lambda: ContinuationModel(config), config_path, weights_path, what="model config")
    return LoadedModel(model=model, config=config, metadata=document, decoding=decoding)


# --- reading a saved folder (config JSON + safetensors); the tuning agent's loader uses these too ----------------
MAX_CONFIG_BYTES = 4 << 20  # a config with its training record is kilobytes


def read_config(path: Path) -> dict:
    """A config file's JSON object, or a one-line error: read with a bounded read, nesting too deep for the parser
    and the non-standard NaN / Infinity constants refused."""
    data = read_bounded(path, MAX_CONFIG_BYTES, "a JSON config")
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise JakiInputError(f"{path}: unreadable or not JSON ({error})") from None
    except RecursionError:
        raise JakiInputError(f"{path}: not a jaki config (JSON nested too deeply)") from None
    if not isinstance(document, dict):
        raise JakiInputError(f"{path}: expected a JSON object")
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def config_dataclass(
    cls: type[T], values: object, config_path: Path, *, key: str, what: str, ignore_unknown: bool = False
) -> T:
    """The dataclass stored under ``key``, checked in this one place: unknown keys (unless ``ignore_unknown``), a
    value of the wrong type for its field (``"yes"`` for a bool, ``null`` for a float, 3.5 for an int), a number
    that is not finite or lies outside the field's range (``cls.RANGES[name]``, else ≥ 0), and whatever its
    constructor refuses are one-line errors."""
    known = {field.name for field in fields(cls)}
    if not isinstance(values, dict) or not (ignore_unknown or set(values) <= known):
        raise JakiInputError(f"{config_path}: '{key}' must be an object with keys from {sorted(known)}")
    values = {name: value for name, value in values.items() if name in known}
    hints = get_type_hints(cls)
    ranges = getattr(cls, "RANGES", {})
    for name, value in values.items():
        problem = _value_problem(value, hints[name], ranges.get(name, (0, math.inf)))
        if problem:
            raise JakiInputError(f"{config_path}: bad {what} ('{key}.{name}': {problem})")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise JakiInputError(f"{config_path}: bad {what} ({error})") from None


def _value_problem(value: object, annotation: object, bounds: tuple[float, float]) -> str | None:
    """Why ``value`` (from JSON) does not fit a field annotated ``annotation`` with numbers in ``bounds``, or None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_value_problem(value, arg, bounds) for arg in args if arg is not type(None)]
        return None if None in problems else problems[0]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return f"{value!r} is not a list"
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return f"{value!r} does not have {len(items)} items"
        return next(filter(None, (_value_problem(v, a, bounds) for v, a in zip(value, items, strict=True))), None)
    if annotation is bool:
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if annotation in (int, float):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not (whole or (annotation is float and isinstance(value, float))):
            return f"{value!r} is not {'an integer' if annotation is int else 'a number'}"
        lo, hi = bounds
        if not (math.isfinite(value) and lo <= value <= hi):
            return f"{value!r} is outside {lo:g}..{hi:g}"
        return None
    if annotation is str:
        return None if isinstance(value, str) else f"{value!r} is not text"
    return None


def load_weights(build: Callable[[], M], config_path: Path, weights_path: Path, *, what: str) -> M:
    """``build()`` the module its config describes and load the safetensors into it (eval mode), or a one-line
    error: a config the module cannot be built from, an unreadable file, or weights that do not fit."""
    try:
        module = build()
    except (TypeError, ValueError, RuntimeError, AssertionError) as error:  # torch asserts, e.g. width % heads
        raise JakiInputError(f"{config_path}: bad {what} ({error or type(error).__name__})") from None
    try:
        tensors = load_file(str(weights_path))
    except (OSError, SafetensorError) as error:
        raise JakiInputError(f"{weights_path}: not a readable safetensors file ({error})") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise JakiInputError(f"{weights_path}: tensor {name!r} holds NaN or infinite values (a damaged file)")
    try:
        # Stored tensors may be float16 to save space; the modules compute in float32.
        module.load_state_dict({name: tensor.to(torch.float32) for name, tensor in tensors.items()})
    except RuntimeError as error:
        # torch's message spans lines ("Error(s) in loading…:", then the missing or unexpected keys): keep one.
        detail = " ".join(str(error).split()) or "shape or name mismatch"
        raise JakiInputError(f"{weights_path}: weights do not fit the config ({detail[:300]})") from None
    return module.eval()
