"""Training the continuation model: one flat loop (AdamW, shuffled batches, early stopping on validation loss),
then the logit adjustment toward rare categories (``ContinuationModel.set_logit_adjustment``).

Deterministic for a seed: batches are shuffled with a ``torch.Generator``; weight initialisation and dropout draw
from torch's global generator, which ``train`` seeds inside ``torch.random.fork_rng`` so the caller's global state
is left as it was. A wall-time budget (``max_minutes``) makes the result depend on how busy the machine is, so the
shipped model was trained without one.

Under ``torchrun`` (``torchrun --nproc-per-node N --no-python jaki train …``) the same loop runs in N processes, as
in nanoGPT: :func:`join_processes` joins torchrun's process group (gloo on the CPU, NCCL with GPUs), ``train`` wraps
the model in ``DistributedDataParallel``, and each process takes its share of every shuffled batch, as
``DistributedSampler`` deals it. ``batch_size`` stays the loops of one gradient step over all processes, so N
processes take the same steps as one. Validation is shared out and summed over the processes, so every process sees
the same loss and stops after the same epoch (on rank 0's clock for ``max_minutes``). The same seed gives the same
model for the same N; one process without torchrun runs exactly the loop it always did.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from jaki.model import ContinuationModel, ModelConfig, count_parameters
from jaki.pattern import N_CATEGORIES


@dataclass
class TrainConfig:
    """Optimisation settings; stored with the model so the same budget can train a baseline."""

    epochs: int = 60  # upper bound on passes over the training set
    batch_size: int = 128  # loops per gradient step
    learning_rate: float = 2e-3  # AdamW step size
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # clip the gradient norm to this (0 = no clipping)
    patience: int = 6  # stop after this many epochs without a better validation loss
    seed: int = 0  # seeds initialisation, dropout and shuffling
    logit_adjustment: float = 0.2  # τ of the offset -τ·log(train category frequency) set after training (0 = off)
    max_minutes: float | None = None  # wall-time budget; training stops after the epoch that exceeds it
    device: str = "cpu"  # where to train ("cuda" if you have one); the returned model is always on the CPU

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The config a saved model records (unknown keys ignored), e.g. to train a baseline on the same budget."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass(frozen=True)
class EpochStats:
    """One epoch's figures, as the progress callback receives them."""

    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy per step over the epoch's batches (nats, dropout on)
    val_loss: float  # mean cross-entropy per step on the validation set (nats, eval mode)
    seconds: float  # wall time since training started
    best: bool  # this epoch set a new best validation loss


@dataclass
class TrainResult:
    """The trained model (best validation weights restored, eval mode) and how training went."""

    model: ContinuationModel
    history: list[EpochStats] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")  # before the logit adjustment (the loss early stopping watched)
    adjusted_val_loss: float = float("nan")  # the returned model's, logit adjustment included
    stopped: str = ""  # why the loop ended: "epochs", "patience" or "time"
    seconds: float = 0.0

    def summary(self) -> dict:
        """JSON-ready figures for the weights' config.json."""
        return {
            "best_epoch": self.best_epoch,
            "best_val_loss": round(self.best_val_loss, 5),
            "adjusted_val_loss": round(self.adjusted_val_loss, 5),
            "epochs_run": len(self.history),
            "stopped": self.stopped,
            "seconds": round(self.seconds, 1),
            "parameters": count_parameters(self.model),
            "train_loss": [round(e.train_loss, 5) for e in self.history],
            "val_loss": [round(e.val_loss, 5) for e in self.history],
        }


@dataclass(frozen=True)
class Processes:
    """Where this process stands among those torchrun started: rank 0 of 1, on the CPU, when it runs alone."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        """Rank 0: the one process that prints progress and writes files."""
        return self.rank == 0


def join_processes() -> Processes:
    """Under torchrun (``RANK`` in the environment), join its process group: gloo on the CPU, NCCL and this
    process's GPU when there are GPUs. Alone, nothing is started: rank 0 of 1 (:func:`leave_processes` ends it)."""
    if "RANK" not in os.environ:
        return Processes()
    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    device = f"cuda:{os.environ['LOCAL_RANK']}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(device)
    return Processes(dist.get_rank(), dist.get_world_size(), device)


def leave_processes() -> None:
    """Leave the process group that :func:`join_processes` joined, if it did."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def category_frequencies(bar2: np.ndarray) -> np.ndarray:
    """(32,) share of each category among all bar-2 steps, add-one smoothed so that no category has zero."""
    counts = np.bincount(np.asarray(bar2).ravel(), minlength=N_CATEGORIES) + 1.0
    return counts / counts.sum()


def mean_step_loss(
    model: ContinuationModel,
    bar1: torch.Tensor,
    bar2: torch.Tensor,
    codes: torch.Tensor | None = None,
    batch_size: int = 1024,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> float:
    """Mean teacher-forced cross-entropy per step (nats) over a whole split, in eval mode. Among ``world_size``
    processes (torchrun), each scores every ``world_size``-th loop and the sums are all-reduced: the same figure on
    every process."""
    share = slice(rank, None, world_size)
    b1, b2, c = bar1[share], bar2[share], None if codes is None else codes[share]
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(b1), batch_size):
            rows = slice(start, start + batch_size)
            logits = model(b1[rows], b2[rows], None if c is None else c[rows])
            total += F.cross_entropy(logits.reshape(-1, N_CATEGORIES), b2[rows].reshape(-1), reduction="sum").item()
    model.train(was_training)
    if world_size == 1:
        return total / b2.numel()
    totals = torch.tensor([total, b2.numel()], dtype=torch.float64, device=b2.device)
    dist.all_reduce(totals)
    return float(totals[0] / totals[1])


def train(
    bar1: np.ndarray,
    bar2: np.ndarray,
    val_bar1: np.ndarray,
    val_bar2: np.ndarray,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    progress: Callable[[EpochStats], None] | None = None,
    *,
    codes: np.ndarray | None = None,
    val_codes: np.ndarray | None = None,
) -> TrainResult:
    """Fit a ContinuationModel to (N, 16) bar-1 → bar-2 category arrays, stopping early on validation loss.

    ``codes`` / ``val_codes``: (N, k) condition codes of each loop, for a model with ``conditions``
    (``jaki.conditions.training_examples`` assembles all three arrays from a dataset). Inside torchrun's process
    group (:func:`join_processes`) every process calls it with the same arrays and trains on its share of them.
    """
    model_config = model_config or ModelConfig()
    config = train_config or TrainConfig()
    device = torch.device(config.device)
    ddp = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
    per_process = math.ceil(config.batch_size / world_size)  # loops of each process's share of one step
    x1, x2, v1, v2 = (torch.as_tensor(a, dtype=torch.long, device=device) for a in (bar1, bar2, val_bar1, val_bar2))
    if len(x1) == 0 or len(v1) == 0:
        raise ValueError("training and validation sets must both hold at least one loop")
    c1, cv = (None if a is None else torch.as_tensor(a, dtype=torch.long, device=device) for a in (codes, val_codes))

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        # Initialisation and dropout have no generator argument: seed the (forked, restored on exit) global one;
        # per process, so that their dropout differs (DDP starts every process from rank 0's initial weights).
        torch.manual_seed(config.seed + rank)
        shuffle = torch.Generator().manual_seed(config.seed)  # the same order in every process
        model = ContinuationModel(model_config).to(device)
        step_model = (
            DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) if ddp else model
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        result = TrainResult(model=model)
        best_state = copy.deepcopy(model.state_dict())
        start_time = time.perf_counter()
        result.stopped = "epochs"

        for epoch in range(1, config.epochs + 1):
            # --- one pass over the shuffled training set (this process's share of it)
            model.train()
            order = torch.randperm(len(x1), generator=shuffle)
            order = order[list(DistributedSampler(order, world_size, rank, shuffle=False))].to(device)
            epoch_loss, batches = 0.0, 0
            for first in range(0, len(order), per_process):
                batch = order[first : first + per_process]
                logits = step_model(x1[batch], x2[batch], None if c1 is None else c1[batch])  # (B, 16, 32)
                loss = F.cross_entropy(logits.reshape(-1, N_CATEGORIES), x2[batch].reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                epoch_loss += loss.item()
                batches += 1

            # --- evaluate, keep the best weights
            val_loss = mean_step_loss(model, v1, v2, cv, rank=rank, world_size=world_size)
            improved = val_loss < result.best_val_loss
            if improved:
                result.best_val_loss, result.best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            elapsed = time.perf_counter() - start_time
            if ddp:  # every process stops on rank 0's clock
                clock = torch.tensor([elapsed], dtype=torch.float64, device=device)
                dist.broadcast(clock, src=0)
                elapsed = float(clock)
            stats = EpochStats(epoch, epoch_loss / batches, val_loss, elapsed, improved)
            result.history.append(stats)
            if progress is not None:
                progress(stats)

            # --- stop?
            if epoch - result.best_epoch >= config.patience:
                result.stopped = "patience"
                break
            if config.max_minutes is not None and elapsed >= 60 * config.max_minutes:
                result.stopped = "time"
                break

    model.load_state_dict(best_state)
    model.set_logit_adjustment(category_frequencies(bar2), config.logit_adjustment)
    result.adjusted_val_loss = mean_step_loss(model, v1, v2, cv, rank=rank, world_size=world_size)
    model.to("cpu").eval()
    result.seconds = time.perf_counter() - start_time
    return result
