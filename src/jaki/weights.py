"""Saving and loading a continuation model: ``model.safetensors`` (tensors only) + ``config.json`` (everything else).

Nothing is ever unpickled: safetensors holds raw tensors and the JSON holds the ``ModelConfig`` fields that rebuild
the module, the category order the weights were trained on (checked on load: a reordered codec would silently
scramble every prediction), the level bands of the training data, and the figures of how it was trained and scored.
The tuning agent is saved the same way and read with the same checked helpers (``read_config``,
``config_dataclass``, ``load_weights``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from jaki.decoding import MOST_LIKELY, Decoding
from jaki.errors import JakiInputError
from jaki.features import FeatureBands, bands_from_json
from jaki.io import atomic_write, check_output_folder
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
    ``document`` as JSON, both checked before the first is written, each written atomically."""
    directory = Path(directory)
    check_output_folder(directory, (weights_file, config_file), overwrite=overwrite)
    directory.mkdir(exist_ok=True)
    tensors = {name: tensor.detach().contiguous() for name, tensor in module.state_dict().items()}
    # save() gives bytes, so the file keeps the permissions atomic_write gave it (save_file makes it owner-only).
    atomic_write(directory / weights_file, lambda path: path.write_bytes(save(tensors)), overwrite=overwrite)
    atomic_write(
        directory / config_file,
        lambda path: path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8"),
        overwrite=overwrite,
    )


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
def read_config(path: Path) -> dict:
    """A config file's JSON object, or a one-line error."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise JakiInputError(f"{path}: unreadable or not JSON ({error})") from None
    if not isinstance(document, dict):
        raise JakiInputError(f"{path}: expected a JSON object")
    return document


def config_dataclass(cls: type[T], values: object, config_path: Path, *, key: str, what: str) -> T:
    """The dataclass stored under ``key``: unknown keys and values its constructor refuses are one-line errors."""
    known = {field.name for field in fields(cls)}
    if not isinstance(values, dict) or not set(values) <= known:
        raise JakiInputError(f"{config_path}: '{key}' must be an object with keys from {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise JakiInputError(f"{config_path}: bad {what} ({error})") from None


def load_weights(build: Callable[[], M], config_path: Path, weights_path: Path, *, what: str) -> M:
    """``build()`` the module its config describes and load the safetensors into it (eval mode), or a one-line
    error: a config the module cannot be built from, an unreadable file, or weights that do not fit."""
    try:
        module = build()
    except (TypeError, ValueError, RuntimeError) as error:
        raise JakiInputError(f"{config_path}: bad {what} ({error})") from None
    try:
        tensors = load_file(str(weights_path))
    except (OSError, SafetensorError) as error:
        raise JakiInputError(f"{weights_path}: not a readable safetensors file ({error})") from None
    try:
        # Stored tensors may be float16 to save space; the modules compute in float32.
        module.load_state_dict({name: tensor.to(torch.float32) for name, tensor in tensors.items()})
    except RuntimeError as error:
        # torch's message spans lines ("Error(s) in loading…:", then the missing or unexpected keys): keep one.
        detail = " ".join(str(error).split()) or "shape or name mismatch"
        raise JakiInputError(f"{weights_path}: weights do not fit the config ({detail[:300]})") from None
    return module.eval()
