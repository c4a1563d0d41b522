"""Scoring continuation models and the baselines they must beat, on one split, in one run.

Every row gets the same metrics:

* ``nll``: mean negative log-likelihood of the true bar 2 per step (nats). Models give it exactly (teacher-forced);
  the step-table baselines' probabilities are clipped at 1e-7 and renormalised first (ANCHORS.md).
* ``accuracy``: share of steps whose category the greedy bar 2 gets right. Greedy = argmax step by step (for an
  autoregressive model, each step conditioned on the argmaxes before it).
* per-part hit precision / recall / F1 of the greedy bar 2, their micro F1 (hits of all parts pooled) and macro
  ``mean_f1`` (mean of the five part F1s).
* feature match: each tuner feature's distribution over *sampled* bar 2s (one per loop, temperature 1, seeded)
  against the real bar 2s, as in the GrooVAE / GrooveTransformer evaluations — KL(real ‖ sampled) and the
  overlapping area of the two histograms. Histograms: one bin per integer value for the integer features, 20
  equal bins over [0, 1] for repetition, always over the pooled range of both sets; the sampled histogram gets
  1e-7 added to every bin (then renormalised) so KL stays finite.

Baselines (ANCHORS.md): copy bar 1 (0.9 on the copy, 0.1 spread over the other 31), the per-step category
frequencies of train bar 2s (add-one), and the conditional table p(bar-2 category at t | bar-1 category at t, t)
backed off to those frequencies. The original jaki shape is a ``ContinuationModel`` and is passed in as a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch

from jaki.features import TUNER_FEATURES, tuner_feature_values
from jaki.model import ContinuationModel
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, PARTS

PROB_FLOOR = 1e-7  # baseline probabilities are clipped here (then renormalised) before the log
COPY_PROBABILITY = 0.9  # copy-bar-1 baseline: probability on bar 1's category
TABLE_BACKOFF = 2.0  # conditional table: pseudo-counts given to the per-step frequencies
REPETITION_BINS = 20  # histogram bins over [0, 1] for the one non-integer feature
EVAL_BATCH = 1024  # loops per model call

# (N, 16) bar 1 and bar 2 category arrays.
Bars = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Scores:
    """One row of the evaluation table."""

    name: str
    nll: float  # nats per step
    accuracy: float  # greedy step accuracy
    precision: dict[str, float]  # per part, greedy hits
    recall: dict[str, float]
    f1: dict[str, float]
    micro_f1: float  # hits of all parts pooled
    mean_f1: float  # mean of the per-part F1s
    feature_kl: dict[str, float]  # KL(real ‖ sampled) per tuner feature
    feature_overlap: dict[str, float]  # overlapping area per tuner feature (1 = identical histograms)

    @property
    def mean_kl(self) -> float:
        return float(np.mean(list(self.feature_kl.values())))

    @property
    def mean_overlap(self) -> float:
        return float(np.mean(list(self.feature_overlap.values())))


@dataclass(frozen=True)
class EvaluationReport:
    """All rows of one evaluation run."""

    split: str
    n_loops: int
    rows: list[Scores]

    def to_json(self) -> dict:
        return {
            "split": self.split,
            "n_loops": self.n_loops,
            "rows": [{**asdict(row), "mean_kl": row.mean_kl, "mean_overlap": row.mean_overlap} for row in self.rows],
        }

    def summary(self) -> dict:
        """The headline figures per row, rounded, for a model's config.json."""
        return {
            "split": self.split,
            "n_loops": self.n_loops,
            "rows": {
                row.name: {
                    "nll": round(row.nll, 4),
                    "accuracy": round(row.accuracy, 4),
                    "micro_f1": round(row.micro_f1, 4),
                    "mean_f1": round(row.mean_f1, 4),
                    "mean_kl": round(row.mean_kl, 4),
                    "mean_overlap": round(row.mean_overlap, 4),
                }
                for row in self.rows
            },
        }

    def row(self, name: str) -> Scores:
        return next(row for row in self.rows if row.name == name)


# --- the step-table baselines: (N, 16, 32) probabilities that depend on bar 1 only -------------------------------
def copy_bar1_probs(bar1: np.ndarray) -> np.ndarray:
    """Bar 1 played again, with 1 - COPY_PROBABILITY spread evenly over the other categories."""
    probs = np.full((*bar1.shape, N_CATEGORIES), (1 - COPY_PROBABILITY) / (N_CATEGORIES - 1))
    np.put_along_axis(probs, bar1[..., None], COPY_PROBABILITY, axis=-1)
    return probs


def frequency_table(train_bar2: np.ndarray) -> np.ndarray:
    """(16, 32) per-step category frequencies of train bar 2s, add-one smoothed."""
    counts = np.ones((train_bar2.shape[1], N_CATEGORIES))
    for step in range(train_bar2.shape[1]):
        counts[step] += np.bincount(train_bar2[:, step], minlength=N_CATEGORIES)
    return counts / counts.sum(axis=1, keepdims=True)


def conditional_table(train_bar1: np.ndarray, train_bar2: np.ndarray) -> np.ndarray:
    """(16, 32, 32) p(bar-2 category | bar-1 category, step), backed off to the per-step frequencies."""
    steps = train_bar1.shape[1]
    counts = np.zeros((steps, N_CATEGORIES, N_CATEGORIES))
    np.add.at(counts, (np.arange(steps)[None, :], train_bar1, train_bar2), 1)
    prior = frequency_table(train_bar2)[:, None, :]  # (16, 1, 32)
    return (counts + TABLE_BACKOFF * prior) / (counts.sum(axis=2, keepdims=True) + TABLE_BACKOFF)


# --- scoring --------------------------------------------------------------------------------------------------------
def hit_scores(predicted: np.ndarray, real: np.ndarray) -> tuple[dict, dict, dict, float]:
    """Per-part precision, recall, F1 and the micro F1 of (N, 16) predicted vs real categories (0 when undefined)."""
    pred_hits, real_hits = CATEGORY_PARTS[predicted], CATEGORY_PARTS[real]  # (N, 16, 5)
    tp = np.sum(pred_hits & real_hits, axis=(0, 1))
    fp = np.sum(pred_hits & ~real_hits, axis=(0, 1))
    fn = np.sum(~pred_hits & real_hits, axis=(0, 1))
    per_part = {part: _f1(t, f, n) for part, t, f, n in zip(PARTS, tp, fp, fn, strict=True)}
    precision = {part: figures[0] for part, figures in per_part.items()}
    recall = {part: figures[1] for part, figures in per_part.items()}
    f1 = {part: figures[2] for part, figures in per_part.items()}
    return precision, recall, f1, _f1(tp.sum(), fp.sum(), fn.sum())[2]


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def histogram_match(real: np.ndarray, generated: np.ndarray, integer_valued: bool) -> tuple[float, float]:
    """KL(real ‖ generated) and overlapping area of two 1-D samples' histograms (see the module docstring)."""
    pooled = np.concatenate([real, generated])
    if integer_valued:
        edges = np.arange(np.floor(pooled.min()), np.ceil(pooled.max()) + 2) - 0.5
    else:
        edges = np.linspace(0.0, 1.0, REPETITION_BINS + 1)
    p = np.histogram(real, edges)[0] / len(real)
    q = np.histogram(generated, edges)[0] / len(generated)
    overlap = float(np.minimum(p, q).sum())
    q = (q + PROB_FLOOR) / (q + PROB_FLOOR).sum()
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present]))), overlap


def _score(name: str, log_likelihoods: np.ndarray, greedy: np.ndarray, sampled: np.ndarray, real: np.ndarray) -> Scores:
    """Build a row from the true bar 2's per-loop log-likelihoods, greedy and sampled bar 2s."""
    precision, recall, f1, micro = hit_scores(greedy, real)
    real_features, sampled_features = tuner_feature_values(real), tuner_feature_values(sampled)
    kl, overlap = {}, {}
    for column, feature in enumerate(TUNER_FEATURES):
        kl[feature], overlap[feature] = histogram_match(
            real_features[:, column], sampled_features[:, column], integer_valued=feature != "repetition"
        )
    return Scores(
        name=name,
        nll=float(-log_likelihoods.sum() / real.size),
        accuracy=float(np.mean(greedy == real)),
        precision=precision,
        recall=recall,
        f1=f1,
        micro_f1=micro,
        mean_f1=float(np.mean(list(f1.values()))),
        feature_kl=kl,
        feature_overlap=overlap,
    )


def score_step_table(name: str, probs: np.ndarray, bars: Bars, rng: np.random.Generator) -> Scores:
    """Score a baseline whose (N, 16, 32) step distributions ignore bar 2's earlier steps."""
    bar2 = bars[1]
    probs = np.maximum(probs, PROB_FLOOR)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    log_likelihood = np.log(np.take_along_axis(probs, bar2[..., None], axis=-1)).sum()
    cumulative = probs.cumsum(axis=-1)
    draws = rng.random((*bar2.shape, 1))
    sampled = np.minimum((cumulative < draws).sum(axis=-1), N_CATEGORIES - 1)
    return _score(name, np.asarray(log_likelihood), probs.argmax(axis=-1), sampled, bar2)


def score_model(name: str, model: ContinuationModel, bars: Bars, generator: torch.Generator) -> Scores:
    """Score a ContinuationModel: exact teacher-forced NLL, greedy decoding, one sample per loop."""
    bar1, bar2 = bars
    model.eval()
    log_likelihoods, greedy, sampled = [], [], []
    for start in range(0, len(bar1), EVAL_BATCH):
        b1, b2 = bar1[start : start + EVAL_BATCH], bar2[start : start + EVAL_BATCH]
        log_likelihoods.append(model.log_likelihood(b1, b2).numpy())
        greedy.append(model.generate(b1, greedy=True).numpy())
        sampled.append(model.generate(b1, generator=generator).numpy())
    return _score(
        name, np.concatenate(log_likelihoods), np.concatenate(greedy), np.concatenate(sampled), np.asarray(bar2)
    )


def evaluate(
    models: Mapping[str, ContinuationModel],
    train_bars: Bars,
    eval_bars: Bars,
    *,
    split: str = "test",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Score each named model and the three step-table baselines (fitted on ``train_bars``) on ``eval_bars``."""
    train_bar1, train_bar2 = (np.asarray(a, dtype=np.int64) for a in train_bars)
    bars = tuple(np.asarray(a, dtype=np.int64) for a in eval_bars)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    n_loops = len(bars[0])
    baselines = {
        "copy bar 1": copy_bar1_probs(bars[0]),
        "step frequencies": np.broadcast_to(frequency_table(train_bar2), (n_loops, *bars[0].shape[1:], N_CATEGORIES)),
        "conditional table": conditional_table(train_bar1, train_bar2)[np.arange(bars[0].shape[1]), bars[0]],
    }
    rows = []
    for name, model in models.items():
        if progress is not None:
            progress(name)
        rows.append(score_model(name, model, bars, generator))
    for name, probs in baselines.items():
        if progress is not None:
            progress(name)
        rows.append(score_step_table(name, probs, bars, rng))
    return EvaluationReport(split=split, n_loops=n_loops, rows=rows)
