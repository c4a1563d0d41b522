"""Scoring the groove model and the baselines it must beat, on one split, in one run, under two conditions.

Conditions: ``played`` (bar 1 as the drummer played it) and ``quantised`` (bar 1 on the grid at jaki's fixed
accents: how a typed grid or a built-in groove reaches the model). Bar 2's hits are always the real ones; every row
gives them velocities and offsets, and is scored on:

* ``velocity_mae`` (MIDI units, 0..127) and ``offset_mae_ms`` over bar 2's hits;
* distribution match between generated and real bar 2s, as in the GrooVAE evaluations: KL(real ‖ generated) and the
  overlapping area of the histograms of GrooveToolbox's microtiming features per bar (swingness, laidbackness,
  timing accuracy), each part's velocity spread per bar (std over its hits, bars with two or more) and the per-hit
  velocity and offset values. Histograms: 20 equal bins over the pooled range (``evaluation.histogram_match``);
* the spread (std over all hits) of velocity and offset per part, to set beside the real one: the known failure of
  GrooVAE-like models is too even velocities and too tight timing.

Baselines (issue 13): ``fixed accents`` (jaki's quantised output: accents by metrical position, on the grid),
``part × step mean`` (the train split's mean velocity and offset of bar-2 hits at that part and step) and ``bar 1
copy`` (bar 1's velocity and offset at the same part and step where it has a hit, else the part × step mean). The
model is scored twice: its medians (``temperature 0``) and its samples (what ``jaki generate`` writes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from jaki.evaluation import histogram_match
from jaki.feel import step_ms
from jaki.groove import GrooveData, GrooveModel
from jaki.groovetoolbox import microtiming_features
from jaki.midi import accent_velocities
from jaki.pattern import PARTS, Pattern

CONDITIONS: tuple[str, ...] = ("played", "quantised")
TIMING_FEATURES: tuple[str, ...] = ("swingness", "laidbackness", "timing_accuracy")
MIDI_MAX = 127
TEMPERATURES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))  # sampling temperatures tried
SPREAD_SHARE = 0.5  # share of the medians' MAE lead over the best baseline that sampling may spend on spread

# (N, 16, 5) velocities (0..1) and offsets (ms) of bar 2's hits.
Feel = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class GrooveScores:
    """One row of the table."""

    name: str
    velocity_mae: float  # MIDI units
    offset_mae_ms: float
    feature_kl: dict[str, float]  # KL(real ‖ generated) per distribution feature
    feature_overlap: dict[str, float]  # overlapping area per feature (1 = identical histograms)
    mean_kl: float  # over the features: the distribution match in one figure
    mean_overlap: float
    velocity_spread: dict[str, float]  # per part, std of velocity over all hits (MIDI units)
    offset_spread_ms: dict[str, float]  # per part, std of offset over all hits


@dataclass(frozen=True)
class GrooveReport:
    """All rows of one condition, with the real bar 2s' spreads to compare against."""

    split: str
    condition: str
    n_loops: int
    real_velocity_spread: dict[str, float]
    real_offset_spread_ms: dict[str, float]
    rows: list[GrooveScores]

    def row(self, name: str) -> GrooveScores:
        return next(row for row in self.rows if row.name == name)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """The headline figures per row, rounded, for the model's config.json."""
        return {
            row.name: {
                "velocity_mae": round(row.velocity_mae, 3),
                "offset_mae_ms": round(row.offset_mae_ms, 3),
                "mean_kl": round(row.mean_kl, 4),
                "mean_overlap": round(row.mean_overlap, 4),
            }
            for row in self.rows
        }


# --- baselines: velocities (0..1) and offsets (steps) of every bar-2 cell -----------------------------------------
def fixed_accents(data: GrooveData) -> tuple[np.ndarray, np.ndarray]:
    """jaki's quantised output: the accent of the step's metrical position, exactly on the grid."""
    velocities = np.broadcast_to((accent_velocities() / MIDI_MAX)[None, :, None], data.bar2_hits.shape)
    return velocities, np.zeros(data.bar2_hits.shape)


def part_step_means(train: GrooveData, data: GrooveData) -> tuple[np.ndarray, np.ndarray]:
    """The train split's mean velocity and offset of bar-2 hits at each part and step (the part's mean where that
    cell never has a hit)."""
    hits = train.bar2_hits
    tables = []
    for layer in (train.bar2_velocities, np.nan_to_num(train.bar2_offsets)):
        sums, counts = np.where(hits, layer, 0.0).sum(axis=0), hits.sum(axis=0)
        part_mean = sums.sum(axis=0) / np.maximum(counts.sum(axis=0), 1)
        tables.append(np.where(counts > 0, sums / np.maximum(counts, 1), part_mean[None, :]))
    return tuple(np.broadcast_to(table[None], data.bar2_hits.shape) for table in tables)


def bar1_copy(train: GrooveData, data: GrooveData) -> tuple[np.ndarray, np.ndarray]:
    """Bar 1's velocity and offset at the same part and step where bar 1 has a hit, else the part × step mean."""
    mean_velocity, mean_offset = part_step_means(train, data)
    velocities = np.where(data.bar1_hits, data.bar1_velocities, mean_velocity)
    offsets = np.where(data.bar1_hits, np.nan_to_num(data.bar1_offsets), mean_offset)
    return velocities, offsets


# --- scoring -------------------------------------------------------------------------------------------------------
def bar_distribution_features(
    hits: np.ndarray, velocities: np.ndarray, offsets_ms: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-bar microtiming features, per-bar velocity spread of each part, and per-hit velocity and offset values:
    the samples whose histograms the distribution match compares (NaN-free)."""
    timing = [microtiming_features(Pattern(h, v, o)) for h, v, o in zip(hits, velocities, offsets_ms, strict=True)]
    features = {name: np.array([t[name] for t in timing]) for name in TIMING_FEATURES}
    for p, part in enumerate(PARTS):
        several = hits[..., p].sum(axis=1) >= 2
        masked = np.where(hits[..., p], velocities[..., p], np.nan)[several]
        features[f"velocity spread {part}"] = MIDI_MAX * np.nanstd(masked, axis=1) if several.any() else np.array([])
    features["velocity"] = MIDI_MAX * velocities[hits]
    features["offset"] = offsets_ms[hits]
    return {name: values[np.isfinite(values)] for name, values in features.items()}


def _distribution_match(real: np.ndarray, generated: np.ndarray) -> tuple[float, float]:
    """KL and overlapping area of two samples, binned over their pooled range (scaled to [0, 1] for the shared
    histogram code)."""
    low, high = min(real.min(), generated.min()), max(real.max(), generated.max())
    width = high - low if high > low else 1.0
    return histogram_match((real - low) / width, (generated - low) / width, integer_valued=False)


def _spreads(hits: np.ndarray, layer: np.ndarray, scale: float) -> dict[str, float]:
    """Per part, std over its hits (NaN for a part that never sounds)."""
    return {
        part: float(scale * np.std(layer[..., p][hits[..., p]])) if hits[..., p].any() else math.nan
        for p, part in enumerate(PARTS)
    }


def _maes(data: GrooveData, velocities: np.ndarray, offsets_steps: np.ndarray) -> tuple[float, float]:
    """Velocity MAE (MIDI units) and offset MAE (ms) over bar 2's hits."""
    hits = data.bar2_hits
    to_ms = step_ms(data.tempo)[:, None, None]
    velocity = MIDI_MAX * np.abs(velocities - data.bar2_velocities)[hits]
    offset = (np.abs(offsets_steps - data.bar2_offsets) * to_ms)[hits]
    return float(velocity.mean()), float(offset.mean())


def score_feel(name: str, data: GrooveData, velocities: np.ndarray, offsets_steps: np.ndarray) -> GrooveScores:
    """Score one row's bar-2 velocities (0..1) and offsets (steps) against the real ones."""
    hits = data.bar2_hits
    to_ms = step_ms(data.tempo)[:, None, None]
    offsets_ms = np.where(hits, offsets_steps * to_ms, np.nan)
    velocities = np.where(hits, velocities, 0.0)
    real_ms = data.bar2_offsets * to_ms
    velocity_mae, offset_mae = _maes(data, velocities, offsets_steps)
    real = bar_distribution_features(hits, data.bar2_velocities, real_ms)
    generated = bar_distribution_features(hits, velocities, offsets_ms)
    kl, overlap = {}, {}
    for feature, values in real.items():
        if len(values) and len(generated[feature]):  # e.g. no bar with two toms hits: nothing to compare
            kl[feature], overlap[feature] = _distribution_match(values, generated[feature])
    return GrooveScores(
        name=name,
        velocity_mae=velocity_mae,
        offset_mae_ms=offset_mae,
        feature_kl=kl,
        feature_overlap=overlap,
        mean_kl=float(np.mean(list(kl.values()))),
        mean_overlap=float(np.mean(list(overlap.values()))),
        velocity_spread=_spreads(hits, velocities, MIDI_MAX),
        offset_spread_ms=_spreads(hits, offsets_ms, 1.0),
    )


def baseline_feels(train: GrooveData, data: GrooveData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three baselines' velocities and offsets (steps) for ``data`` (bar 1 as ``data`` holds it)."""
    return {
        "fixed accents": fixed_accents(data),
        "part × step mean": part_step_means(train, data),
        "bar 1 copy": bar1_copy(train, data),
    }


def choose_temperatures(
    model: GrooveModel, train: GrooveData, validation: GrooveData, *, seed: int = 0
) -> dict[str, dict[float, tuple[float, float]]]:
    """Set the model's four sampling temperatures on validation; return (velocity MAE, offset MAE) per tried one.

    Per condition and layer, the largest of :data:`TEMPERATURES` whose samples spend at most :data:`SPREAD_SHARE`
    of the medians' lead over the best baseline on that layer's MAE: the widest spread — the closest to a
    drummer's — that keeps the model clearly ahead (on validation the lead is not the test split's; spending all of
    it let one test figure slip behind). The layers' noises are independent, so each layer's MAE depends on its own
    temperature only.
    """
    tried: dict[str, dict[float, tuple[float, float]]] = {}
    for condition in CONDITIONS:
        seen = validation if condition == "played" else validation.on_grid()
        inputs = torch.as_tensor(seen.inputs(np.full(len(seen), condition == "quantised")))
        baselines = [score_feel(name, validation, *feel) for name, feel in baseline_feels(train, seen).items()]
        bars = (min(row.velocity_mae for row in baselines), min(row.offset_mae_ms for row in baselines))
        tried[condition] = {}
        for temperature in TEMPERATURES:
            generator = torch.Generator().manual_seed(seed)
            feel = model.sample(inputs, generator=generator, temperature=temperature)
            tried[condition][temperature] = _maes(validation, *(t.numpy() for t in feel))
        prefix = "" if condition == "played" else "quantised_"
        medians = tried[condition][0.0]
        for layer, (name, bar) in enumerate(zip(("velocity", "offset"), bars, strict=True)):
            allowed = medians[layer] + SPREAD_SHARE * (bar - medians[layer])
            chosen = max((t for t, maes in tried[condition].items() if maes[layer] <= allowed), default=0.0)
            setattr(model.config, f"{prefix}{name}_temperature", chosen)
    return tried


def evaluate_groove(
    model: GrooveModel, train: GrooveData, data: GrooveData, *, split: str = "test", seed: int = 0
) -> list[GrooveReport]:
    """Both conditions' tables: the model (medians and samples) and the three baselines fitted on ``train``."""
    model.eval()
    reports = []
    for condition in CONDITIONS:
        seen = data if condition == "played" else data.on_grid()
        inputs = torch.as_tensor(data.inputs() if condition == "played" else data.quantised_inputs())
        generator = torch.Generator().manual_seed(seed)
        sampled = model.sample(inputs, generator=generator)
        rows = {
            "groove model (sampled)": tuple(t.numpy() for t in sampled),
            "groove model (median)": tuple(t.numpy() for t in model.sample(inputs, temperature=0.0)),
            **baseline_feels(train, seen),
        }
        hits = data.bar2_hits
        to_ms = step_ms(data.tempo)[:, None, None]
        reports.append(
            GrooveReport(
                split=split,
                condition=condition,
                n_loops=len(data),
                real_velocity_spread=_spreads(hits, data.bar2_velocities, MIDI_MAX),
                real_offset_spread_ms=_spreads(hits, data.bar2_offsets * to_ms, 1.0),
                rows=[score_feel(name, data, *feel) for name, feel in rows.items()],
            )
        )
    return reports
