"""What the user asks of each tuner feature: skip it, a level (low / medium / high), or a number.

A level means the model's band for it (terciles of real drummers' second bars, stored with the continuation model).
A number means a narrow band around it: half a unit either side for the three integer counts (so 7 means exactly
7, and 7.4 rounds to 7), ``REPETITION_TOLERANCE`` either side for repetition, whose values are fractions 2m/n
that rarely hit a typed number exactly. The tuner only ever sees bands, as arrays (:class:`TargetArrays`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from jaki.errors import JakiInputError
from jaki.features import FEATURE_RANGES, LEVELS, TUNER_FEATURES, Band, FeatureBands

N_FEATURES = len(TUNER_FEATURES)
REPETITION_TOLERANCE = 0.05
COUNT_TOLERANCE = 0.5
# Target kinds, as stored in TargetArrays.kind: -1 skip, 0..2 the level index in LEVELS, NUMBER a typed number.
SKIP = -1
NUMBER = len(LEVELS)

TargetValue = str | float | None


@dataclass(frozen=True)
class Targets:
    """One request per tuner feature: ``None`` (skip), ``"low"``/``"medium"``/``"high"``, or a number."""

    cymbal_density: TargetValue = None
    drum_density: TargetValue = None
    syncopation: TargetValue = None
    repetition: TargetValue = None

    def __post_init__(self) -> None:
        for feature in TUNER_FEATURES:
            value = getattr(self, feature)
            if value is None:
                continue
            if isinstance(value, str):
                if value not in LEVELS:
                    raise JakiInputError(
                        f"{feature} target {value!r}: unknown level (expected one of {', '.join(LEVELS)}, a number, or skip)"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise JakiInputError(f"{feature} target {value!r}: expected a level or a finite number")
            lo, hi = FEATURE_RANGES[feature]
            if not lo <= value <= hi:
                raise JakiInputError(f"{feature} target {value}: out of range (expected {lo:g}..{hi:g})")

    @classmethod
    def from_mapping(cls, requests: Mapping[str, TargetValue]) -> Targets:
        """From ``{"drum_density": "high", "syncopation": 7}``; numbers given as text (``"7"``) are accepted."""
        unknown = set(requests) - set(TUNER_FEATURES)
        if unknown:
            raise JakiInputError(
                f"targets: unknown feature(s) {', '.join(sorted(unknown))} (expected {', '.join(TUNER_FEATURES)})"
            )
        parsed: dict[str, TargetValue] = {}
        for feature, value in requests.items():
            if isinstance(value, str) and value not in LEVELS and value not in ("", "skip"):
                try:
                    value = float(value)
                except ValueError:
                    raise JakiInputError(
                        f"{feature} target {value!r}: expected {', '.join(LEVELS)}, a number, or skip"
                    ) from None
            parsed[feature] = None if value in ("", "skip") else value
        return cls(**parsed)

    def as_dict(self) -> dict[str, TargetValue]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def requested(self) -> tuple[str, ...]:
        return tuple(feature for feature in TUNER_FEATURES if getattr(self, feature) is not None)

    def bands(self, level_bands: FeatureBands) -> dict[str, Band | None]:
        """The band each request stands for (``None`` for a skipped feature)."""
        return {feature: target_band(feature, getattr(self, feature), level_bands) for feature in TUNER_FEATURES}


def target_band(feature: str, value: TargetValue, level_bands: FeatureBands) -> Band | None:
    if value is None:
        return None
    if isinstance(value, str):
        return level_bands[feature][value]
    tolerance = REPETITION_TOLERANCE if feature == "repetition" else COUNT_TOLERANCE
    return Band(float(value) - tolerance, float(value) + tolerance)


@dataclass(frozen=True)
class TargetArrays:
    """Targets of a batch of patterns as arrays, each (B, 4) in ``TUNER_FEATURES`` order.

    ``kind``: -1 skip, 0/1/2 the level, 3 a number. ``lo``/``hi``: the band (0 where skipped).
    """

    kind: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def requested(self) -> np.ndarray:
        return self.kind != SKIP

    def __len__(self) -> int:
        return len(self.kind)

    def take(self, index: np.ndarray | slice) -> TargetArrays:
        return TargetArrays(self.kind[index], self.lo[index], self.hi[index])

    def per_edit(self) -> TargetArrays:
        """(B, 1, 1, 4) views that broadcast against the (B, 16, 32, 4) values after every edit (candidate_values)."""
        return self.take((slice(None), None, None))

    @classmethod
    def concat(cls, parts: list[TargetArrays]) -> TargetArrays:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("kind", "lo", "hi")))


def target_arrays(targets: Targets | list[Targets], level_bands: FeatureBands) -> TargetArrays:
    """(B, 4) arrays for one or several :class:`Targets`."""
    batch = [targets] if isinstance(targets, Targets) else list(targets)
    kind = np.full((len(batch), N_FEATURES), SKIP, dtype=np.int64)
    lo = np.zeros((len(batch), N_FEATURES))
    hi = np.zeros((len(batch), N_FEATURES))
    for row, request in enumerate(batch):
        for column, (feature, band) in enumerate(request.bands(level_bands).items()):
            if band is None:
                continue
            value = getattr(request, feature)
            kind[row, column] = LEVELS.index(value) if isinstance(value, str) else NUMBER
            lo[row, column], hi[row, column] = band.lo, band.hi
    return TargetArrays(kind, lo, hi)


def level_combinations() -> list[Targets]:
    """All 255 non-empty combinations of skip / low / medium / high over the four features."""
    choices = (None, *LEVELS)
    grid = np.array(np.meshgrid(*[range(len(choices))] * N_FEATURES, indexing="ij")).reshape(N_FEATURES, -1).T
    return [Targets(**{f: choices[i] for f, i in zip(TUNER_FEATURES, row, strict=True)}) for row in grid if row.any()]


def sample_level_targets(
    rng: np.random.Generator, n: int, level_bands: FeatureBands, number_share: float = 0.0
) -> TargetArrays:
    """``n`` random requests, uniform over the 255 level combinations; a ``number_share`` of the requested features
    asks instead for a number drawn from inside the feature's low..high span (so the agent learns narrow bands too)."""
    kind = rng.integers(SKIP, NUMBER, size=(n, N_FEATURES))
    empty = (kind == SKIP).all(axis=1)
    while empty.any():
        kind[empty] = rng.integers(SKIP, NUMBER, size=(int(empty.sum()), N_FEATURES))
        empty = (kind == SKIP).all(axis=1)
    lo = np.zeros((n, N_FEATURES))
    hi = np.zeros((n, N_FEATURES))
    for column, feature in enumerate(TUNER_FEATURES):
        bands = [level_bands[feature][level] for level in LEVELS]
        level_lo = np.array([b.lo for b in bands])
        level_hi = np.array([b.hi for b in bands])
        requested = kind[:, column] != SKIP
        lo[requested, column] = level_lo[kind[requested, column]]
        hi[requested, column] = level_hi[kind[requested, column]]
        numbers = requested & (rng.random(n) < number_share)
        if numbers.any():
            span_lo, span_hi = bands[0].hi, bands[2].lo  # typical values: from the top of low to the bottom of high
            if feature == "repetition":
                values = rng.uniform(span_lo, span_hi, size=int(numbers.sum()))
                tolerance = REPETITION_TOLERANCE
            else:
                values = rng.integers(int(span_lo), int(span_hi) + 1, size=int(numbers.sum())).astype(float)
                tolerance = COUNT_TOLERANCE
            kind[numbers, column] = NUMBER
            lo[numbers, column], hi[numbers, column] = values - tolerance, values + tolerance
    return TargetArrays(kind, lo, hi)
