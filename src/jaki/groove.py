"""The groove model: how a drummer plays bar 2's hits — each hit's velocity and timing — given bar 1 as played.

The hits never change here: the continuation model (and the tuner) chose them; this model only says how loud and
how early or late each one sounds, GrooVAE's "Humanize" task in the hits–velocities–offsets (HVO) view.

Inputs, step by step (B, 16, F), bar 1 aligned with bar 2 as the continuation model sees it: bar 2's hits (5),
bar 1's hits (5), velocities (5, 0..1) and offsets (5, in sixteenth-steps, tempo-free), a "bar 1 is quantised"
flag, the tempo (log2 of bpm / 120) and the step's position in the bar (16, one-hot). A bidirectional LSTM reads
the 16 steps (torch runs it 2.6× faster on CPU than a GRU of the same width); a head gives, for each step and part,
a Laplace distribution of the velocity and one of the offset (location and scale). Trained by their negative
log-likelihood, masked by bar 2's hits: the location is the median (what minimises the absolute error) and the
scale the drummer's spread. Generation *samples* (``sample``): the median alone is the known failure of GrooVAE-like
models, velocities too even and timing too tight; the full spread costs accuracy, so the sampling temperature is a
choice made on validation (below).

"Bar 1 is quantised" (a typed grid, a built-in groove, a DAW clip snapped to the grid): during training a share of
the loops has bar 1's offsets zeroed, the flag set and its velocities kept, replaced by jaki's fixed accents or
made constant, so that the same model also humanises a seed with no feel of its own.

Training (``train_groove``) is one flat loop like the continuation model's: AdamW, shuffled batches, the
validation loss (real and quantised bar 1 alike) picks the epoch; the sampling temperatures are then chosen on
validation (:func:`jaki.groove_evaluation.choose_temperatures`). Timing is in sixteenth-steps, so that one model
serves every tempo; :func:`jaki.feel.step_ms` converts.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaki.errors import JakiInputError
from jaki.feel import MAX_OFFSET_STEPS, step_ms
from jaki.midi import accent_velocities
from jaki.pattern import N_PARTS, STEPS_PER_BAR

if TYPE_CHECKING:
    from jaki.dataset import LoopDataset

N_FEATURES = 4 * N_PARTS + 2 + STEPS_PER_BAR  # bar-2 hits, bar-1 hits/velocities/offsets, flag, tempo, position
FLAG = 4 * N_PARTS  # input column of the "bar 1 is quantised" flag
N_OUTPUTS = 4  # per part: velocity location, velocity scale, offset location, offset scale
MIN_SCALE = 1e-3  # floor of a Laplace scale, so the loss stays finite
REFERENCE_TEMPO = 120.0  # the tempo input is log2(tempo / this)


def groove_inputs(
    bar1_hits: np.ndarray,
    bar1_velocities: np.ndarray,
    bar1_offsets: np.ndarray,
    quantised: np.ndarray,
    tempo_bpm: np.ndarray,
    bar2_hits: np.ndarray,
) -> np.ndarray:
    """(B, 16, N_FEATURES) float32 model inputs (module docstring); offsets in steps, NaN (no hit) read as 0."""
    batch = len(bar2_hits)
    position = np.broadcast_to(np.eye(STEPS_PER_BAR, dtype=np.float32), (batch, STEPS_PER_BAR, STEPS_PER_BAR))

    def per_loop(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, dtype=np.float32)[:, None, None], (batch, STEPS_PER_BAR, 1))

    offsets = np.where(bar1_hits, np.nan_to_num(bar1_offsets), 0.0)
    tempo = per_loop(np.log2(np.asarray(tempo_bpm, dtype=np.float64) / REFERENCE_TEMPO))
    parts = [bar2_hits, bar1_hits, np.where(bar1_hits, bar1_velocities, 0.0), offsets, per_loop(quantised), tempo]
    parts.append(position)
    return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts], axis=-1)


# --- the model -------------------------------------------------------------------------------------------------------
@dataclass
class GrooveConfig:
    """Every size of the groove model, and the sampling temperatures chosen on validation; saved beside the weights."""

    hidden: int = 64  # LSTM units per direction
    layers: int = 2  # stacked bidirectional LSTM layers
    dropout: float = 0.25  # between the LSTM layers and before the head
    # Sampling: the scale of the Laplace noise on each layer, when bar 1 is played and when it is quantised (all four
    # chosen on validation: groove_evaluation.choose_temperatures).
    velocity_temperature: float = 1.0
    offset_temperature: float = 1.0
    quantised_velocity_temperature: float = 1.0
    quantised_offset_temperature: float = 1.0

    # What a saved config may hold (checked by weights.config_dataclass; temperatures: 0..10).
    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "hidden": (1, 1024),
        "layers": (1, 8),
        "dropout": (0, 1),
        **{f"{c}{layer}_temperature": (0, 10) for c in ("", "quantised_") for layer in ("velocity", "offset")},
    }


@dataclass(frozen=True)
class GrooveParams:
    """The predicted distributions, each (B, 16, 5): Laplace location and scale of velocity (0..1) and offset (steps)."""

    velocity: torch.Tensor
    velocity_scale: torch.Tensor
    offset: torch.Tensor
    offset_scale: torch.Tensor


class GrooveModel(nn.Module):
    """p(velocity, offset of each bar-2 hit | bar 2's hits, bar 1 as played); see the module docstring."""

    def __init__(self, config: GrooveConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Linear(N_FEATURES, config.hidden)
        self.lstm = nn.LSTM(
            config.hidden,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden, N_PARTS * N_OUTPUTS)

    def forward(
        self, inputs: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[GrooveParams, torch.Tensor | None]:
        """inputs (B, 16, F) → the distributions, and with ``targets`` (hits, velocities, offsets in steps, each
        (B, 16, 5)) the mean Laplace negative log-likelihood per bar-2 hit of velocity plus offset."""
        x = torch.relu(self.input(inputs))  # (B, 16, H)
        x, _ = self.lstm(x)  # (B, 16, 2H)
        raw = self.head(self.dropout(x)).view(*inputs.shape[:2], N_PARTS, N_OUTPUTS)  # (B, 16, 5, 4)
        params = GrooveParams(
            velocity=torch.sigmoid(raw[..., 0]),
            velocity_scale=F.softplus(raw[..., 1]) + MIN_SCALE,
            offset=MAX_OFFSET_STEPS * torch.tanh(raw[..., 2]),
            offset_scale=F.softplus(raw[..., 3]) + MIN_SCALE,
        )
        if targets is None:
            return params, None
        hits, velocities, offsets = targets
        nll = _laplace_nll(velocities, params.velocity, params.velocity_scale) + _laplace_nll(
            offsets, params.offset, params.offset_scale
        )
        return params, (nll * hits).sum() / hits.sum().clamp(min=1)

    @torch.no_grad()
    def sample(
        self, inputs: torch.Tensor, *, generator: torch.Generator | None = None, temperature: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocities (0..1) and offsets (steps), each (B, 16, 5): a draw at ``temperature`` (None = the config's
        per layer, for bar 1 played or quantised by each row's flag; 0 = the medians)."""
        params, _ = self(inputs)
        velocity_t = offset_t = temperature
        if temperature is None:
            on_grid = inputs[:, :1, FLAG : FLAG + 1] > 0.5  # (B, 1, 1)
            c = self.config
            velocity_t = torch.where(on_grid, c.quantised_velocity_temperature, c.velocity_temperature)
            offset_t = torch.where(on_grid, c.quantised_offset_temperature, c.offset_temperature)
        velocity = params.velocity + velocity_t * params.velocity_scale * _laplace_noise(params.velocity, generator)
        offset = params.offset + offset_t * params.offset_scale * _laplace_noise(params.offset, generator)
        return velocity.clamp(0.0, 1.0), offset.clamp(-MAX_OFFSET_STEPS, MAX_OFFSET_STEPS)


def _laplace_nll(x: torch.Tensor, location: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.log(2 * scale) + (x - location).abs() / scale


def _laplace_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard Laplace draws shaped like ``like``: the difference of two unit exponentials."""
    uniform = torch.rand((2, *like.shape), generator=generator).clamp(min=1e-7)
    return torch.log(uniform[0]) - torch.log(uniform[1])


# --- data ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrooveData:
    """One split as (N, 16, 5) arrays: bar 1 as played, bar 2's hits and their targets (offsets in steps)."""

    bar1_hits: np.ndarray
    bar1_velocities: np.ndarray
    bar1_offsets: np.ndarray  # steps, NaN where no hit
    bar2_hits: np.ndarray
    bar2_velocities: np.ndarray
    bar2_offsets: np.ndarray  # steps, NaN where no hit
    tempo: np.ndarray  # (N,) bpm

    @classmethod
    def from_loops(
        cls, hits: np.ndarray, velocities: np.ndarray, offsets_ms: np.ndarray, tempo: np.ndarray
    ) -> GrooveData:
        """From a dataset's (N, 32, 5) loop arrays (:class:`jaki.dataset.LoopDataset`) and tempos."""
        offsets = offsets_ms / step_ms(tempo)[:, None, None]
        s = STEPS_PER_BAR
        return cls(
            hits[:, :s], velocities[:, :s], offsets[:, :s], hits[:, s:], velocities[:, s:], offsets[:, s:], tempo
        )

    @classmethod
    def from_split(cls, dataset: LoopDataset, split: str) -> GrooveData:
        """One split of a built dataset."""
        mask = dataset.split_mask(split)
        return cls.from_loops(
            dataset.hits[mask], dataset.velocities[mask], dataset.offsets_ms[mask], dataset.tempo[mask]
        )

    def __len__(self) -> int:
        return len(self.bar2_hits)

    def targets(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bar 2's hits, velocities and offsets (steps, NaN → 0) as float tensors, the loss's targets."""
        offsets = np.where(self.bar2_hits, np.nan_to_num(self.bar2_offsets), 0.0)
        return tuple(torch.as_tensor(a, dtype=torch.float32) for a in (self.bar2_hits, self.bar2_velocities, offsets))

    def inputs(self, quantised: np.ndarray | None = None, velocity_mode: np.ndarray | None = None) -> np.ndarray:
        """Model inputs; rows marked ``quantised`` see bar 1 on the grid, with velocities by ``velocity_mode``:
        0 kept, 1 jaki's fixed accents, 2 one constant (:data:`QUANTISED_VELOCITY`)."""
        n = len(self)
        quantised = np.zeros(n, dtype=bool) if quantised is None else quantised
        velocity_mode = np.zeros(n, dtype=np.int64) if velocity_mode is None else velocity_mode
        velocities = np.where(
            (quantised & (velocity_mode == 1))[:, None, None], self.on_grid().bar1_velocities, self.bar1_velocities
        )
        velocities = np.where((quantised & (velocity_mode == 2))[:, None, None], QUANTISED_VELOCITY, velocities)
        offsets = np.where(quantised[:, None, None], 0.0, self.bar1_offsets)
        return groove_inputs(self.bar1_hits, velocities, offsets, quantised, self.tempo, self.bar2_hits)

    def on_grid(self) -> GrooveData:
        """The same loops with bar 1 quantised at jaki's fixed accents: how a typed grid or built-in groove arrives."""
        accents = (accent_velocities() / 127.0)[None, :, None]
        return replace(
            self,
            bar1_velocities=np.where(self.bar1_hits, accents, 0.0),
            bar1_offsets=np.where(self.bar1_hits, 0.0, np.nan),
        )

    def quantised_inputs(self) -> np.ndarray:
        """Model inputs of :meth:`on_grid`, flagged as quantised."""
        return self.on_grid().inputs(np.ones(len(self), dtype=bool))


QUANTISED_VELOCITY = 100 / 127  # the one velocity of a "constant velocity" quantised bar 1 in training


# --- training --------------------------------------------------------------------------------------------------------
@dataclass
class GrooveTrainConfig:
    """Optimisation settings of the groove model; stored with it."""

    epochs: int = 40  # upper bound on passes over the training set
    batch_size: int = 256  # loops per gradient step
    learning_rate: float = 3e-3  # AdamW step size
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # clip the gradient norm to this (0 = no clipping)
    patience: int = 8  # stop after this many epochs without a better validation loss (it is noisy)
    quantised_share: float = 0.3  # share of training loops whose bar 1 is put on the grid (module docstring)
    seed: int = 0  # seeds initialisation, dropout, shuffling and the quantised loops
    max_minutes: float | None = 8.5  # CPU-time budget (10 min in all with the choices after); None = no limit


@dataclass
class GrooveTrainResult:
    """The trained model (best validation epoch, eval mode) and how training went."""

    model: GrooveModel
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = "epochs"
    seconds: float = 0.0  # wall time
    cpu_seconds: float = 0.0  # this process's CPU time: the budget, the same on a busy machine as on an idle one

    def summary(self) -> dict:
        """JSON-ready figures for the weights' config.json."""
        return {
            "best_epoch": self.best_epoch,
            "best_val_loss": round(min(self.val_loss), 5),
            "epochs_run": len(self.val_loss),
            "stopped": self.stopped,
            "seconds": round(self.seconds, 1),
            "cpu_seconds": round(self.cpu_seconds, 1),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "train_loss": [round(x, 5) for x in self.train_loss],
            "val_loss": [round(x, 5) for x in self.val_loss],
        }


def validation_loss(model: GrooveModel, data: GrooveData) -> float:
    """Mean per-hit loss on a split, bar 1 as played and bar 1 quantised counted alike (eval mode)."""
    was_training = model.training
    model.eval()
    targets = data.targets()
    with torch.no_grad():
        losses = [model(torch.as_tensor(x), targets)[1].item() for x in (data.inputs(), data.quantised_inputs())]
    model.train(was_training)
    return float(np.mean(losses))


def train_groove(
    train: GrooveData,
    validation: GrooveData,
    model_config: GrooveConfig | None = None,
    train_config: GrooveTrainConfig | None = None,
    progress: Callable[[int, float, float], None] | None = None,
) -> GrooveTrainResult:
    """Fit a GrooveModel on ``train``, the epoch chosen on ``validation`` (the sampling temperatures are set after,
    by ``groove_evaluation.choose_temperatures``); ``progress(epoch, train loss, validation loss)`` after each epoch."""
    config = train_config or GrooveTrainConfig()
    model_config = copy.deepcopy(model_config or GrooveConfig())
    if len(train) == 0 or len(validation) == 0:
        raise ValueError("training and validation sets must both hold at least one loop")
    rng = np.random.default_rng(config.seed)
    targets = train.targets()
    started, cpu_started = time.perf_counter(), time.process_time()
    with torch.random.fork_rng():
        # Initialisation and dropout draw from torch's global generator: seed the forked one (restored on exit).
        torch.manual_seed(config.seed)
        model = GrooveModel(model_config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        result = GrooveTrainResult(model=model)
        best_state, best_loss = copy.deepcopy(model.state_dict()), math.inf
        for epoch in range(1, config.epochs + 1):
            # --- this epoch's bar 1s: a fresh share put on the grid, then one pass in a shuffled order
            quantised = rng.random(len(train)) < config.quantised_share
            inputs = torch.as_tensor(train.inputs(quantised, rng.integers(0, 3, len(train))))
            order = torch.as_tensor(rng.permutation(len(train)))
            model.train()
            losses = []
            for first in range(0, len(order), config.batch_size):
                batch = order[first : first + config.batch_size]
                _, loss = model(inputs[batch], tuple(t[batch] for t in targets))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                losses.append(loss.item())

            # --- evaluate, keep the best weights, stop?
            val_loss = validation_loss(model, validation)
            result.train_loss.append(float(np.mean(losses)))
            result.val_loss.append(val_loss)
            if val_loss < best_loss:
                best_loss, result.best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
            if progress is not None:
                progress(epoch, result.train_loss[-1], val_loss)
            if epoch - result.best_epoch >= config.patience:
                result.stopped = "patience"
                break
            if config.max_minutes is not None and time.process_time() - cpu_started >= 60 * config.max_minutes:
                result.stopped = "time"
                break

    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


# --- saving and loading (through jaki.weights: safetensors + config.json) ------------------------------------------
GROOVE_FORMAT_VERSION = 1
SHIPPED_GROOVE = "assets/groove"  # inside the jaki package


def save_groove(model: GrooveModel, directory: Path, *, metadata: dict, overwrite: bool = False) -> None:
    """Write the model folder: its config under ``groove``, training and evaluation figures beside it."""
    from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, save_folder

    document = {"format_version": GROOVE_FORMAT_VERSION, "groove": asdict(model.config), **metadata}
    save_folder(model, document, directory, weights_file=WEIGHTS_FILE, config_file=CONFIG_FILE, overwrite=overwrite)


def load_groove(directory: Path | str | None = None) -> GrooveModel:
    """A saved groove model in eval mode; ``None`` loads the one shipped inside the package."""
    from jaki.weights import CONFIG_FILE, WEIGHTS_FILE, config_dataclass, load_weights, read_config

    if directory is None:
        with resources.as_file(resources.files("jaki").joinpath(SHIPPED_GROOVE)) as shipped:
            return load_groove(Path(shipped))
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise JakiInputError(f"{directory}: not a groove model folder (expected {CONFIG_FILE} + {WEIGHTS_FILE})")
    document = read_config(config_path)
    if document.get("format_version") != GROOVE_FORMAT_VERSION or "groove" not in document:
        raise JakiInputError(f"{config_path}: not a groove model config (format_version {GROOVE_FORMAT_VERSION})")
    config = config_dataclass(GrooveConfig, document["groove"], config_path, key="groove", what="groove config")
    return load_weights(lambda: GrooveModel(config), config_path, weights_path, what="groove config")
