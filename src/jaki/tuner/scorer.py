"""Scorers: what the tuner asks the continuation model, behind one small protocol.

A scorer answers two batched questions about bar 2s given their seed bars (category indices, int64):

* ``scorer(seed_bars (B, 16), bars (B, 16)) -> (B,)``: log p(bar | seed) in nats (a (1, 16) seed is broadcast);
* ``scorer.step_log_probs(seed_bars, bars) -> (B, 16, 32)``: teacher-forced log p(step t = c | seed, bar's steps
  before t), the per-step view the agent reads once per pattern;
* ``scorer.variants(seed_bars, bars, base, candidates) -> (N,)``: log p of each candidate, a variant of bar
  ``bars[base[i]]`` after ``seed_bars[base[i]]`` (the same numbers as ``scorer(seed_bars[base], candidates)``): the
  tuner's candidates change one or two steps of the bar they start from, and the model scores them from there;
* ``scorer.scored(seed_bars, bars) -> ScoredBars``: both at once, the bars' per-step view and a door to score their
  variants, from one pass of the model (the polish reads the view to choose its candidates, then scores them).

:class:`ModelScorer` wraps the continuation model. :class:`TableScorer` is a stand-in with independent steps,
p(bar 2 step t | bar 1 step t, t), cheap enough to develop and unit-test the tuner without the LSTM (it is also a
fair baseline model: ANCHORS.md's conditional table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
import torch

from jaki.model import ContinuationModel, DecoderTrace, Encoding
from jaki.pattern import N_CATEGORIES, STEPS_PER_BAR


@dataclass(frozen=True)
class ScoredBars:
    """B bars scored after their seed bars: their per-step view, and their variants scored from there."""

    step_log_probs: np.ndarray  # (B, 16, 32) as ``Scorer.step_log_probs``
    variants: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (base (N,), candidates (N, 16)) → log p (N,)


class Scorer(Protocol):
    def __call__(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray: ...

    def step_log_probs(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray: ...

    def variants(
        self, seed_bars: np.ndarray, bars: np.ndarray, base: np.ndarray, candidates: np.ndarray
    ) -> np.ndarray: ...

    def scored(self, seed_bars: np.ndarray, bars: np.ndarray) -> ScoredBars: ...


def _broadcast_seeds(seed_bars: np.ndarray, bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seed_bars = np.asarray(seed_bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
    bars = np.asarray(bars, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
    if len(seed_bars) == 1 and len(bars) != 1:
        seed_bars = np.broadcast_to(seed_bars, bars.shape)
    if seed_bars.shape != bars.shape:
        raise ValueError(f"{len(seed_bars)} seed bars for {len(bars)} bars (expected 1 or {len(bars)})")
    return seed_bars, bars


class TableScorer:
    """Independent steps: ``log_probs[t, seed category at t, c]`` = log p(bar 2 step t = c | bar 1 step t = seed)."""

    def __init__(self, log_probs: np.ndarray) -> None:
        log_probs = np.asarray(log_probs, dtype=np.float64)
        if log_probs.shape != (STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES):
            raise ValueError(f"table must be (16, 32, 32), got {log_probs.shape}")
        self.log_probs = log_probs

    @classmethod
    def fit(cls, seed_bars: np.ndarray, bars: np.ndarray, smoothing: float = 0.5) -> TableScorer:
        """Counts of (t, seed category, bar-2 category) with additive smoothing, normalised per (t, seed category)."""
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        counts = np.full((STEPS_PER_BAR, N_CATEGORIES, N_CATEGORIES), smoothing)
        steps = np.broadcast_to(np.arange(STEPS_PER_BAR), seed_bars.shape)
        np.add.at(counts, (steps, seed_bars, bars), 1.0)
        return cls(np.log(counts / counts.sum(axis=-1, keepdims=True)))

    def step_log_probs(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        return self.log_probs[np.arange(STEPS_PER_BAR), seed_bars]

    def __call__(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        return self.log_probs[np.arange(STEPS_PER_BAR), seed_bars, bars].sum(axis=-1)

    def variants(self, seed_bars: np.ndarray, bars: np.ndarray, base: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        seed_bars, _ = _broadcast_seeds(seed_bars, bars)
        return self(seed_bars[base], candidates)

    def scored(self, seed_bars: np.ndarray, bars: np.ndarray) -> ScoredBars:
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        return ScoredBars(self.step_log_probs(seed_bars, bars), partial(self.variants, seed_bars, bars))


class ModelScorer:
    """The continuation model as a scorer (moved to ``device``); batches are cut into ``batch_size`` chunks.

    A shared seed's encoding is kept between calls, so the model's weights must not change while it is in use.
    """

    def __init__(
        self,
        model: ContinuationModel,
        *,
        batch_size: int = 4096,
        device: str | torch.device = "cpu",
        conditions: np.ndarray | None = None,
        trace_from: int = 16,
    ) -> None:
        """``conditions``: the (k,) condition codes every bar is scored under (None: the model's plain case).
        ``trace_from``: :meth:`variants` scores fewer candidates than this in one fused forward pass instead (the
        decoder trace steps in Python: cheaper per candidate, dearer per call; measured crossover on one CPU
        thread)."""
        self.device = torch.device(device)
        self.conditions = None if conditions is None else torch.as_tensor(conditions, device=self.device)[None]
        # Built on every tune() call: moving and switching an already placed, evaluating model is skipped.
        parameter = next(model.parameters(), None)
        if parameter is not None and parameter.device != self.device:
            model = model.to(self.device)
        self.model = model.eval() if model.training else model
        self.batch_size = batch_size
        self.trace_from = trace_from
        # The last shared seed's encoding (the model's weights must not change while the scorer is in use).
        self._encoding: tuple[bytes, Encoding] | None = None

    def _chunks(self, seed_bars: np.ndarray, bars: np.ndarray):
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        shared_seed = bool((seed_bars == seed_bars[:1]).all())
        for start in range(0, len(bars), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            seeds = seed_bars[:1] if shared_seed else seed_bars[chunk]
            yield (
                torch.tensor(seeds, device=self.device),
                torch.tensor(bars[chunk], device=self.device),
            )

    def forget_seed(self) -> None:
        """Drop the kept encoding of the last shared seed (for timing a cold call)."""
        self._encoding = None

    def _log_probs(self, seeds: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-probabilities (B, 16, 32). A single shared seed is encoded once and its encoding kept
        for the next calls with the same seed (a tuning episode scores many batches after one seed)."""
        if not self.model.autoregressive:
            return self.model.step_log_probs(seeds, chunk, conditions=self.conditions)
        if len(seeds) != 1:
            # Many bars after few seeds (a batch of tuning candidates): encode each distinct seed once.
            unique, inverse = torch.unique(seeds, dim=0, return_inverse=True)
            context, (h, c) = self.model.encode(unique, self.conditions)
            encoding = (context[inverse], (h[:, inverse], c[:, inverse]))
            return self.model.step_log_probs(seeds, chunk, encoding=encoding)
        return self.model.step_log_probs(seeds, chunk, encoding=self._encode(seeds))

    def _encode(self, seeds: torch.Tensor) -> Encoding:
        """The encoding of distinct seed bars; a single one is kept for the next calls with the same seed."""
        if len(seeds) != 1:
            return self.model.encode(seeds, self.conditions)
        key = seeds.cpu().numpy().tobytes()
        kept = self._encoding  # read once: threads tuning slices of a batch share this scorer
        if kept is None or kept[0] != key:
            kept = self._encoding = (key, self.model.encode(seeds, self.conditions))
        return kept[1]

    @torch.inference_mode()
    def variants(self, seed_bars: np.ndarray, bars: np.ndarray, base: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The lstm decoder is run once over the bars and, for each candidate, on from its first changed step
        (:meth:`ContinuationModel.variant_log_likelihood`); equal to ``self(seed_bars[base], candidates)`` up to
        float32 rounding (≈ 1e-5 nats)."""
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        base = np.asarray(base, dtype=np.int64).reshape(-1)
        candidates = np.asarray(candidates, dtype=np.int64).reshape(-1, STEPS_PER_BAR)
        if not self.model.autoregressive or len(candidates) < self.trace_from:
            return self(seed_bars[base], candidates)
        # A trace holds 16 decoder states per bar: many bars are traced ``batch_size`` at a time.
        scores = np.zeros(len(candidates))
        for start in range(0, len(bars), self.batch_size):
            rows = np.flatnonzero((base >= start) & (base < start + self.batch_size))
            if rows.size:
                chunk = slice(start, start + self.batch_size)
                scored = self.scored(seed_bars[chunk], bars[chunk])
                scores[rows] = scored.variants(base[rows] - start, candidates[rows])
        return scores

    @torch.inference_mode()
    def scored(self, seed_bars: np.ndarray, bars: np.ndarray) -> ScoredBars:
        """One decoder trace of the bars: its teacher-forced log-probabilities are the view, its states where each
        variant's decoding starts."""
        seed_bars, bars = _broadcast_seeds(seed_bars, bars)
        if not self.model.autoregressive:  # no decoder state to start from: variants scores each in full
            return ScoredBars(self.step_log_probs(seed_bars, bars), partial(self.variants, seed_bars, bars))
        seeds, seed_index = np.unique(seed_bars, axis=0, return_inverse=True)
        seeds = self._as_tensor(seeds)
        trace = self.model.trace(
            seeds, self._encode(seeds), self._as_tensor(seed_index.reshape(-1)), self._as_tensor(bars)
        )
        return ScoredBars(trace.log_probs.double().cpu().numpy(), partial(self._trace_variants, trace))

    @torch.inference_mode()
    def _trace_variants(self, trace: DecoderTrace, base: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        base = self._as_tensor(np.asarray(base, dtype=np.int64).reshape(-1))
        candidates = self._as_tensor(np.asarray(candidates, dtype=np.int64).reshape(-1, STEPS_PER_BAR))
        scores = [
            self.model.variant_log_likelihood(
                trace, base[start : start + self.batch_size], candidates[start : start + self.batch_size]
            )
            for start in range(0, len(candidates), self.batch_size)
        ]
        return torch.cat(scores).double().cpu().numpy() if scores else np.zeros(0)

    def _as_tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), device=self.device)

    @torch.inference_mode()
    def __call__(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        scores = [
            self._log_probs(seeds, chunk).gather(-1, chunk[..., None])[..., 0].sum(dim=1)
            for seeds, chunk in self._chunks(seed_bars, bars)
        ]
        return torch.cat(scores).double().cpu().numpy()

    @torch.inference_mode()
    def step_log_probs(self, seed_bars: np.ndarray, bars: np.ndarray) -> np.ndarray:
        out = [self._log_probs(seeds, chunk) for seeds, chunk in self._chunks(seed_bars, bars)]
        return torch.cat(out).double().cpu().numpy()
