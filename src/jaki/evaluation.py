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

* variation, of the bar 2 each row plays against its bar 1 (and of the real bar 2s, the reference): the share of
  exact copies of bar 1, cells changed per bar (of 16 × 5), hits added and removed per bar per part, and the
  share of bar 1's kick and snare hits kept. A continuation that copies or strips its seed shows here.

A model gets two rows: its **default output** (``Decoding``: sampled, seeded — what ``jaki generate`` plays) and
its **most likely bar** (greedy). Its feature match is of the bars the row plays. Next to them, the baseline that
tells placed changes from noise: bar 1 with as many cells flipped at random as the first model's default output
changed in that loop (averaged over ``FLIP_DRAWS`` draws; no likelihood).

Baselines (ANCHORS.md): copy bar 1 (0.9 on the copy, 0.1 spread over the other 31), the per-step category
frequencies of train bar 2s (add-one), and the conditional table p(bar-2 category at t | bar-1 category at t, t)
backed off to those frequencies. The original jaki shape is a ``ContinuationModel`` and is passed in as a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from jaki.decoding import MOST_LIKELY, Decoding
from jaki.features import TUNER_FEATURES, tuner_feature_values
from jaki.model import ContinuationModel
from jaki.pattern import CATEGORY_PARTS, N_CATEGORIES, PARTS, hits_to_categories

PROB_FLOOR = 1e-7  # baseline probabilities are clipped here (then renormalised) before the log
COPY_PROBABILITY = 0.9  # copy-bar-1 baseline: probability on bar 1's category
TABLE_BACKOFF = 2.0  # conditional table: pseudo-counts given to the per-step frequencies
REPETITION_BINS = 20  # histogram bins over [0, 1] for the one non-integer feature
EVAL_BATCH = 1024  # loops per model call
FLIP_DRAWS = 10  # draws of the random-flip baseline
RANDOM_FLIPS = "bar 1 + as many random flips"
KEPT_PARTS = ("kick", "snare")  # the parts whose bar-1 hits kept are reported

# (N, 16) bar 1 and bar 2 category arrays.
Bars = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Variation:
    """How a set of bar 2s differs from their bar 1s (module docstring)."""

    copies: float  # share of bar 2s equal to their bar 1
    cells_changed: float  # mean cells (step × part) that differ, per bar
    added: dict[str, float]  # mean hits per bar that bar 2 adds, per part
    removed: dict[str, float]  # mean bar-1 hits per bar that bar 2 drops, per part
    kept: dict[str, float]  # share of bar 1's hits that bar 2 keeps, for KEPT_PARTS

    @classmethod
    def of(cls, bar1: np.ndarray, bar2: np.ndarray) -> Variation:
        """The variation of (N, 16) bar-2 categories against their bar 1s."""
        before, after = CATEGORY_PARTS[bar1], CATEGORY_PARTS[bar2]  # (N, 16, 5)
        changed = (before != after).sum(axis=(1, 2))
        added, removed = (after & ~before).sum(axis=1).mean(axis=0), (before & ~after).sum(axis=1).mean(axis=0)
        kept = {}
        for part in KEPT_PARTS:
            column = PARTS.index(part)
            had = before[..., column].sum()
            kept[part] = float((before[..., column] & after[..., column]).sum() / had) if had else float("nan")
        return cls(
            copies=float(np.mean(changed == 0)),
            cells_changed=float(changed.mean()),
            added={part: float(value) for part, value in zip(PARTS, added, strict=True)},
            removed={part: float(value) for part, value in zip(PARTS, removed, strict=True)},
            kept=kept,
        )


@dataclass(frozen=True)
class Scores:
    """One row of the evaluation table; ``nll`` is None for a row that plays bars without a likelihood."""

    name: str
    nll: float | None  # nats per step
    accuracy: float  # greedy step accuracy
    precision: dict[str, float]  # per part, greedy hits
    recall: dict[str, float]
    f1: dict[str, float]
    micro_f1: float  # hits of all parts pooled
    mean_f1: float  # mean of the per-part F1s
    feature_kl: dict[str, float]  # KL(real ‖ sampled) per tuner feature
    feature_overlap: dict[str, float]  # overlapping area per tuner feature (1 = identical histograms)
    variation: Variation  # of the bars the row plays

    @property
    def mean_kl(self) -> float:
        return float(np.mean(list(self.feature_kl.values())))

    @property
    def mean_overlap(self) -> float:
        return float(np.mean(list(self.feature_overlap.values())))


@dataclass(frozen=True)
class EvaluationReport:
    """All rows of one evaluation run."""

    split: str  # what was scored: a split's name, or a pairs file's
    n_loops: int
    rows: list[Scores]
    real: Variation  # of the real bar 2s: what the rows' variation is measured against

    def to_json(self) -> dict:
        return {
            "split": self.split,
            "n_loops": self.n_loops,
            "rows": [{**asdict(row), "mean_kl": row.mean_kl, "mean_overlap": row.mean_overlap} for row in self.rows],
            "real": asdict(self.real),
        }

    def summary(self) -> dict:
        """The headline figures per row, rounded, for a model's config.json."""
        return {
            "split": self.split,
            "n_loops": self.n_loops,
            "rows": {
                row.name: {
                    "nll": None if row.nll is None else round(row.nll, 4),
                    "accuracy": round(row.accuracy, 4),
                    "micro_f1": round(row.micro_f1, 4),
                    "mean_f1": round(row.mean_f1, 4),
                    "mean_kl": round(row.mean_kl, 4),
                    "mean_overlap": round(row.mean_overlap, 4),
                    "copies": round(row.variation.copies, 4),
                    "cells_changed": round(row.variation.cells_changed, 3),
                }
                for row in self.rows
            },
            "real": {"copies": round(self.real.copies, 4), "cells_changed": round(self.real.cells_changed, 3)},
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


def _score(
    name: str,
    log_likelihoods: np.ndarray | None,
    played: np.ndarray,
    sampled: np.ndarray,
    bars: Bars,
) -> Scores:
    """Build a row from the true bar 2's per-loop log-likelihoods, the bar 2s the row plays (scored for hits and
    variation) and the sampled ones its feature match is measured on."""
    bar1, real = bars
    precision, recall, f1, micro = hit_scores(played, real)
    real_features, sampled_features = tuner_feature_values(real), tuner_feature_values(sampled)
    kl, overlap = {}, {}
    for column, feature in enumerate(TUNER_FEATURES):
        kl[feature], overlap[feature] = histogram_match(
            real_features[:, column], sampled_features[:, column], integer_valued=feature != "repetition"
        )
    return Scores(
        name=name,
        nll=None if log_likelihoods is None else float(-log_likelihoods.sum() / real.size),
        accuracy=float(np.mean(played == real)),
        precision=precision,
        recall=recall,
        f1=f1,
        micro_f1=micro,
        mean_f1=float(np.mean(list(f1.values()))),
        feature_kl=kl,
        feature_overlap=overlap,
        variation=Variation.of(bar1, played),
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
    return _score(name, np.asarray(log_likelihood), probs.argmax(axis=-1), sampled, bars)


def score_model(
    name: str,
    model: ContinuationModel,
    bars: Bars,
    generator: torch.Generator,
    decoding: Decoding | None = None,
    codes: np.ndarray | None = None,
) -> Scores:
    """Score a ContinuationModel: exact teacher-forced NLL, and the bars ``decoding`` plays (greedy by default),
    whose feature match is measured on one temperature-1 sample per loop when greedy, on themselves otherwise.
    ``codes``: (N, k) condition codes in the model's order."""
    return _score(name, *_model_bars(model, bars, generator, decoding or MOST_LIKELY, codes), bars)


def _model_bars(
    model: ContinuationModel, bars: Bars, generator: torch.Generator, decoding: Decoding, codes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-loop log-likelihoods of the real bar 2s, the bars ``decoding`` plays, and those the features are
    matched on (see ``score_model``)."""
    bar1, bar2 = bars
    model.eval()
    log_likelihoods, played, sampled = [], [], []
    for start in range(0, len(bar1), EVAL_BATCH):
        batch = slice(start, start + EVAL_BATCH)
        b1, b2, c = bar1[batch], bar2[batch], None if codes is None else codes[batch]
        log_likelihoods.append(model.log_likelihood(b1, b2, conditions=c).numpy())
        played.append(model.play(b1, decoding, generator=generator, conditions=c).numpy())
        if decoding.greedy:
            sampled.append(model.generate(b1, generator=generator, conditions=c).numpy())
    played_bars = np.concatenate(played)
    return np.concatenate(log_likelihoods), played_bars, np.concatenate(sampled) if sampled else played_bars


def random_flips(bar1: np.ndarray, flips: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 16) bar 1s with ``flips[i]`` of loop i's 80 cells (step × part) flipped, chosen uniformly at random."""
    cells = CATEGORY_PARTS[bar1].reshape(len(bar1), -1).copy()
    for row, count in zip(cells, flips, strict=True):
        chosen = rng.choice(cells.shape[1], size=int(count), replace=False)
        row[chosen] = ~row[chosen]
    return hits_to_categories(cells.reshape(*bar1.shape, len(PARTS)))


def score_random_flips(played: np.ndarray, bars: Bars, rng: np.random.Generator, draws: int = FLIP_DRAWS) -> Scores:
    """The chance baseline for a row's changes: bar 1 with as many random flips per loop as ``played`` made,
    figures averaged over ``draws`` draws (variation of the last draw; its counts equal the row's by design)."""
    bar1, _ = bars
    flips = (CATEGORY_PARTS[bar1] != CATEGORY_PARTS[played]).sum(axis=(1, 2))
    rows = [
        _score(RANDOM_FLIPS, None, flipped, flipped, bars)
        for flipped in (random_flips(bar1, flips, rng) for _ in range(draws))
    ]

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    def mean_of(key: str) -> dict[str, float]:
        return {name: mean([getattr(row, key)[name] for row in rows]) for name in getattr(rows[0], key)}

    return replace(
        rows[-1],
        accuracy=mean([row.accuracy for row in rows]),
        micro_f1=mean([row.micro_f1 for row in rows]),
        mean_f1=mean([row.mean_f1 for row in rows]),
        precision=mean_of("precision"),
        recall=mean_of("recall"),
        f1=mean_of("f1"),
        feature_kl=mean_of("feature_kl"),
        feature_overlap=mean_of("feature_overlap"),
    )


@dataclass(frozen=True)
class Contestant:
    """A model to score, the way it plays by default."""

    model: ContinuationModel
    decoding: Decoding = MOST_LIKELY


def evaluate(
    models: Mapping[str, ContinuationModel | Contestant],
    train_bars: Bars | None,
    eval_bars: Bars,
    *,
    conditions: Mapping[str, np.ndarray] | None = None,
    split: str = "test",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EvaluationReport:
    """Score each named model (its default output and its most likely bar), the random-flip baseline and the
    step-table baselines (fitted on ``train_bars``; left out when it is None) on ``eval_bars``.

    ``conditions`` maps each condition name (``jaki.conditions``) to the (N,) codes of the evaluated loops; a model
    reads the ones it was trained with. A bare ContinuationModel plays its most likely bar only.
    """
    bars = tuple(np.asarray(a, dtype=np.int64) for a in eval_bars)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    n_loops = len(bars[0])
    rows, first_played = [], None
    for name, entry in models.items():
        contestant = entry if isinstance(entry, Contestant) else Contestant(entry)
        codes = _codes(contestant.model, conditions)
        if progress is not None:
            progress(name)
        decodings = [contestant.decoding, MOST_LIKELY] if not contestant.decoding.greedy else []
        for decoding in decodings or [contestant.decoding]:
            figures = _model_bars(contestant.model, bars, generator, decoding, codes)
            label = f"{name}, most likely bar" if decodings and decoding.greedy else name
            rows.append(_score(label, *figures, bars))
            if first_played is None:
                first_played = figures[1]
    if first_played is not None:
        rows.append(score_random_flips(first_played, bars, rng))
    baselines = {"copy bar 1": copy_bar1_probs(bars[0])}
    if train_bars is not None:
        train_bar1, train_bar2 = (np.asarray(a, dtype=np.int64) for a in train_bars)
        baselines["step frequencies"] = np.broadcast_to(
            frequency_table(train_bar2), (n_loops, *bars[0].shape[1:], N_CATEGORIES)
        )
        baselines["conditional table"] = conditional_table(train_bar1, train_bar2)[np.arange(bars[0].shape[1]), bars[0]]
    for name, probs in baselines.items():
        if progress is not None:
            progress(name)
        rows.append(score_step_table(name, probs, bars, rng))
    return EvaluationReport(split=split, n_loops=n_loops, rows=rows, real=Variation.of(*bars))


def _codes(model: ContinuationModel, conditions: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    """(N, k) codes in the model's condition order; None (the model's plain case) when there are none to give."""
    names = model.config.conditions
    if not names or conditions is None:
        return None
    return np.stack([np.asarray(conditions[name], dtype=np.int64) for name in names], axis=1)
