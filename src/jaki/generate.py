"""The main job as one library call: a seed bar → the LSTM's continuation → the tuned continuation.

``jaki generate`` is a thin layer over this module::

    from jaki.generate import generate, seed_from_groove, write_generation

    result = generate(seed_from_groove("funk"), {"syncopation": "high", "repetition": "low"}, seed_value=7)
    print(result.tuned.to_grid())
    write_generation(result, Path("out"), tempo_bpm=96)

Every random choice (a random groove or dataset loop, sampling the continuation, the tuner) flows from
``seed_value``, so the same seed gives the same pattern and byte-identical MIDI files. :func:`generate_batch` does
the same job for many seeds in batched model and tuner calls (``jaki generate --from-data FILE --all``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jaki.conditions import codes_for, is_performed
from jaki.decoding import MOST_LIKELY, Decoding
from jaki.errors import JakiInputError
from jaki.features import LEVELS, TUNER_FEATURES, Band, FeatureBands, tuner_features
from jaki.feel import FeelOptions, Performance, perform
from jaki.grooves import get_groove, groove_library
from jaki.midi import DrumMidi, MidiBar, drum_midi_file, read_drum_midi
from jaki.pattern import Pattern

if TYPE_CHECKING:  # torch and the tuner load inside generate(): seeds, targets and files need neither
    import mido
    import torch

    from jaki.dataset import LoopDataset
    from jaki.groove import GrooveModel
    from jaki.tuner import RefineConfig, RewardConfig, Targets, TrainProgress, TuningAgent
    from jaki.weights import LoadedModel

OUTPUT_FILES = ("seed.mid", "continuation.mid", "tuned.mid", "loop.mid")
DEFAULT_TEMPO_BPM = 100.0


# --- seeds ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seed:
    """The one bar to continue, where it came from (for people), and its tempo when the source has one."""

    pattern: Pattern
    source: str
    tempo_bpm: float | None = None


def seed_from_groove(name: str) -> Seed:
    groove = get_groove(name)
    return Seed(groove.pattern, f"groove '{groove.name}'", groove.tempo_bpm)


def random_groove(rng: np.random.Generator) -> Seed:
    names = sorted(groove_library())
    return seed_from_groove(names[int(rng.integers(len(names)))])


def seed_from_grid(text: str, source: str = "grid") -> Seed:
    pattern = Pattern.from_grid(text)
    if pattern.n_bars != 1:
        raise JakiInputError(f"{source}: a seed grid holds one bar of 16 steps, got {pattern.n_bars} bars")
    return Seed(_require_hits(pattern, source), source)


def seed_from_midi(
    path: Path, bar: int | None = None, drum_map: dict[int, str] | None = None, channel: int | None = None
) -> Seed:
    """Bar ``bar`` (1-based, as a DAW counts) of a drum MIDI file; the first usable 4/4 bar when ``None``.
    ``channel`` (1–16): the drums' channel, when not 10 (see :func:`jaki.midi.read_drum_midi`)."""
    return seed_from_drum_midi(read_drum_midi(path, drum_map, channel=channel), bar)


def seed_from_drum_midi(midi: DrumMidi, bar: int | None = None) -> Seed:
    """:func:`seed_from_midi` on a file already read (from disk, or from an upload to the studio)."""
    chosen = midi_seed_bar(midi, bar)
    label = f"{midi.path} bar {chosen.index + 1}"
    return Seed(_require_hits(chosen.pattern, label), label, chosen.tempo_bpm)


def midi_seed_bar(midi: DrumMidi, bar: int | None = None) -> MidiBar:
    """Bar ``bar`` (1-based) of a file read; the first 4/4 bar with hits when ``None``."""
    path = midi.path
    if bar is None:
        usable = [b for b in midi.bars if b.pattern.hits.any()]
        if not usable:
            raise JakiInputError(f"{path}: no 4/4 bar with drum hits to use as a seed")
        return usable[0]
    by_number = {b.index + 1: b for b in midi.bars}
    if bar not in by_number:
        skipped = {s.index + 1: s.reason for s in midi.skipped}
        reason = skipped.get(bar, f"the file has bars 1..{max([*by_number, *skipped], default=0)}")
        raise JakiInputError(f"{path}: bar {bar} is not a usable 4/4 bar ({reason})")
    return by_number[bar]


def seed_from_dataset(path: Path, index: int | None, rng: np.random.Generator) -> Seed:
    """Bar 1 of loop ``index`` of a built dataset (a random loop when ``None``)."""
    from jaki.dataset import load_dataset

    dataset = load_dataset(path)
    if index is None:
        index = int(rng.integers(len(dataset)))
    if not 0 <= index < len(dataset):
        raise JakiInputError(f"{path}: loop {index} out of range (the dataset has loops 0..{len(dataset) - 1})")
    return _dataset_seed(path, dataset, index)


def seeds_from_dataset(path: Path) -> list[Seed]:
    """Bar 1 of every loop of a built dataset, in the dataset's order (``jaki generate --from-data FILE --all``)."""
    from jaki.dataset import load_dataset

    dataset = load_dataset(path)
    return [_dataset_seed(path, dataset, index) for index in range(len(dataset))]


def _dataset_seed(path: Path, dataset: LoopDataset, index: int) -> Seed:
    source = f"{path} loop {index} ({dataset.source[index]} bar {int(dataset.bar_index[index]) + 1})"
    return Seed(dataset.pattern(index).bar(0), source, float(dataset.tempo[index]))


def _require_hits(pattern: Pattern, source: str) -> Pattern:
    if not pattern.hits.any():
        raise JakiInputError(f"{source}: the seed bar is empty (no hits to continue)")
    return pattern


# --- targets ------------------------------------------------------------------------------------------------------
# What people type for a level: the name, its first letter, or 0 / 1 / 2 as in the original jaki's prompt.
LEVEL_ALIASES: dict[str, str] = {
    **{level: level for level in LEVELS},
    **{level[0]: level for level in LEVELS},
    **{str(index): level for index, level in enumerate(LEVELS)},
}


def parse_target(feature: str, text: str) -> str | float | None:
    """A request as typed: a level (see ``LEVEL_ALIASES``), another number, or blank / ``skip`` (no request).

    ``0``, ``1`` and ``2`` are levels, as in the original jaki; to ask for those exact values type ``0.0``, ``1.0``…
    """
    text = text.strip().lower()
    if text in ("", "skip"):
        return None
    if text in LEVEL_ALIASES:
        return LEVEL_ALIASES[text]
    try:
        return float(text)
    except ValueError:
        raise JakiInputError(
            f"{feature.replace('_', '-')} target {text!r}: expected low, medium, high, 0, 1, 2 or a number"
        ) from None


# --- options ------------------------------------------------------------------------------------------------------
MAX_BARS = 64  # bars one generation continues
MAX_SEED_VALUE = 2**32 - 1  # random seeds: numpy and torch both take these
TEMPO_RANGE_BPM = (20.0, 400.0)
OPEN_NOTES = {"hihat": 46, "crash": 49}  # how the open-cymbal part is written to MIDI
TUNING_METHODS = ("agent", "greedy", "random")  # what a user may choose ("refine" follows from a refine budget)


def draw_seed_value() -> int:
    """A fresh random seed when the user gave none: small, so that it is easy to type back to get the same again."""
    return int(np.random.SeedSequence().entropy % 1_000_000)


def check_seed_value(seed_value: int) -> int:
    if not 0 <= seed_value <= MAX_SEED_VALUE:
        raise JakiInputError(f"--seed {seed_value}: expected 0..{MAX_SEED_VALUE}")
    return seed_value


def resolve_tempo(tempo_bpm: float | None, seed: Seed) -> float:
    """The tempo asked for, else the seed's, else the default; refused outside ``TEMPO_RANGE_BPM``."""
    tempo = tempo_bpm if tempo_bpm is not None else (seed.tempo_bpm or DEFAULT_TEMPO_BPM)
    lo, hi = TEMPO_RANGE_BPM
    if not (math.isfinite(tempo) and lo <= tempo <= hi):
        raise JakiInputError(f"--tempo {tempo:g}: expected {lo:g}..{hi:g} BPM")
    return tempo


def open_note(open_as: str) -> int:
    """The MIDI note for the open-cymbal part: ``hihat`` or ``crash``."""
    if open_as not in OPEN_NOTES:
        raise JakiInputError(f"--open-as {open_as!r}: expected {' or '.join(OPEN_NOTES)}")
    return OPEN_NOTES[open_as]


def check_method(method: str) -> str:
    if method not in TUNING_METHODS:
        raise JakiInputError(f"--method {method!r}: expected {', '.join(TUNING_METHODS[:-1])} or {TUNING_METHODS[-1]}")
    return method


# --- results ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetOutcome:
    """One requested feature: what was asked, the band that stands for it, and the values reached bar by bar, with
    the tuner's own verdict on each (``TuneResult.met``: what it decided is what is shown)."""

    feature: str
    request: str | float
    band: Band
    values: tuple[float, ...]
    bar_met: tuple[bool, ...]

    @property
    def met(self) -> bool:
        return all(self.bar_met)


@dataclass(frozen=True)
class Generation:
    seed: Seed
    continuation: Pattern
    tuned: Pattern | None
    outcomes: tuple[TargetOutcome, ...]
    seed_value: int
    model_name: str
    method: str  # the tuning method used; "none" when nothing was requested
    decoding: Decoding = MOST_LIKELY  # how the continuation was played
    log_likelihood: float = 0.0  # log p of the result's bars under the model, each given the seed (nats)
    rank: int = 1  # among the variations of one call, most likely first
    timing_ms: dict[str, float] = field(default_factory=dict)
    performance: Performance | None = None  # the bars as played (velocities, timing); None = jaki's grid

    @property
    def result(self) -> Pattern:
        """The pattern jaki proposes: the tuned bars, or the continuation where nothing was tuned."""
        return self.tuned if self.tuned is not None else self.continuation

    @property
    def loop(self) -> Pattern:
        return Pattern.concat([self.seed.pattern.binary(), self.result])

    def midi_patterns(self) -> dict[str, Pattern]:
        """What each MIDI file holds: the bars as played, or without a performance the grid (a seed keeps its
        velocities, as before)."""
        played = self.performance
        if played is None:
            seed = Pattern(self.seed.pattern.hits, self.seed.pattern.velocities)
            return {"seed": seed, "continuation": self.continuation, "tuned": self.result, "loop": self.loop}
        return {"seed": played.seed, "continuation": played.continuation, "tuned": played.result, "loop": played.loop}


# --- the job ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TuningOptions:
    """How to tune: the method (see :mod:`jaki.tuner`), RL Tuner's closeness weight, a per-seed refinement budget."""

    method: str = "agent"  # agent | greedy | refine | random
    closeness: float | None = None  # weight of log p(bar | seed) in the reward; None = the agent's own
    refine_seconds: float = 0.0  # > 0: per-seed refinement for this long (per bar), whatever the method
    agent_dir: Path | None = None  # None = the shipped agent


MAX_VARIATIONS = 32
VARIATION_ATTEMPTS = 4  # draws per asked-for variation before settling for fewer distinct ones


def generate(
    seed: Seed,
    requests: dict[str, str | float] | None = None,
    *,
    n_bars: int = 1,
    temperature: float | None = None,
    top_p: float | None = None,
    fill: bool = False,
    seed_value: int = 0,
    model: LoadedModel | None = None,
    tuning: TuningOptions | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    keep: Sequence[str] = (),
    humanize: float = 1.0,
    swing: float = 50.0,
    tempo_bpm: float | None = None,
    groove: GrooveModel | None = None,
) -> Generation:
    """Continue ``seed`` into a phrase of ``n_bars`` bars, each a variation of the seed at its place in the phrase
    (the fourth bar of four is where a drummer varies most), tuning each toward ``requests``.

    ``requests`` maps features to ``low``/``medium``/``high`` or a number (missing = skipped). The model plays
    the way its ``decoding`` says (sampled, seeded by ``seed_value``) unless ``temperature`` / ``top_p`` say
    otherwise; temperature 0 is its most likely bar. ``fill`` makes the last bar a fill. ``keep``: parts tuning
    never changes (``("kick", "snare")``; names from ``jaki.pattern.PARTS``).
    The groove model then plays the bars (:mod:`jaki.feel`): ``humanize`` 0..1 scales its feel (0 with ``swing``
    50 = jaki's grid, no performance), ``swing`` is MPC-style percent, ``tempo_bpm`` (default: the seed's, else
    100) turns its timing into milliseconds, ``groove`` replaces the shipped groove model.
    """
    return generate_variations(
        seed,
        requests,
        1,
        n_bars=n_bars,
        temperature=temperature,
        top_p=top_p,
        fill=fill,
        seed_value=seed_value,
        model=model,
        tuning=tuning,
        progress=progress,
        keep=keep,
        humanize=humanize,
        swing=swing,
        tempo_bpm=tempo_bpm,
        groove=groove,
    )[0]


def generate_variations(
    seed: Seed,
    requests: dict[str, str | float] | None,
    variations: int,
    *,
    n_bars: int = 1,
    temperature: float | None = None,
    top_p: float | None = None,
    fill: bool = False,
    seed_value: int = 0,
    model: LoadedModel | None = None,
    tuning: TuningOptions | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    keep: Sequence[str] = (),
    humanize: float = 1.0,
    swing: float = 50.0,
    tempo_bpm: float | None = None,
    groove: GrooveModel | None = None,
) -> tuple[Generation, ...]:
    """Up to ``variations`` distinct generations of :func:`generate` (each tuned when targets are given), most
    likely first, as Magenta Studio's *Continue* offers candidates. Fewer come back when the model has fewer
    distinct bars to offer (always one at temperature 0). The first is what :func:`generate` returns."""
    import torch

    from jaki.tuner import ModelScorer, tune

    if not 1 <= variations <= MAX_VARIATIONS:
        raise JakiInputError(f"--variations {variations}: expected 1..{MAX_VARIATIONS}")
    timing: dict[str, float] = {}
    plan = _plan(requests, n_bars, temperature, top_p, fill, seed_value, model, tuning, keep, humanize, swing, timing)
    loaded, targets = plan.loaded, plan.targets
    bar_codes = plan.bar_codes(seed)
    # Every bar varies the seed at its place in the phrase: continuing each from the bar before would walk away
    # from the seed, a little further with every bar.
    seed_bar = seed.pattern.binary()
    bar1 = torch.as_tensor(seed_bar.categories()[None, :])
    scorers = [ModelScorer(loaded.model, conditions=codes) for codes in bar_codes] if targets.requested() else []
    generator = torch.Generator().manual_seed(seed_value)
    found: dict[Pattern, Generation] = {}
    attempts = 1 if plan.decoding.greedy else VARIATION_ATTEMPTS * variations
    for attempt in range(attempts):
        phrase_timing = {"continuation": 0.0, "tuning": 0.0}
        continuations, tuned, values, verdicts, log_p = [], [], [], [], 0.0
        for index, (codes, bar_decoding) in enumerate(zip(bar_codes, plan.bar_decodings, strict=True)):
            clock = time.perf_counter()
            bar2 = loaded.model.play(bar1, bar_decoding, generator=generator, conditions=codes[None])
            continuation = Pattern.from_categories(bar2[0].numpy())
            phrase_timing["continuation"] += _lap(clock)
            continuations.append(continuation)
            if targets.requested():
                clock = time.perf_counter()
                result = tune(
                    seed_bar,
                    continuation,
                    targets,
                    scorer=scorers[index],
                    bands=loaded.bands,
                    agent=plan.agent,
                    method=plan.method,
                    reward=plan.reward,
                    refine=plan.refine,
                    keep=keep,
                    seed=seed_value + index + 1000 * attempt,
                    progress=progress,
                )
                phrase_timing["tuning"] += _lap(clock)
                tuned.append(result.pattern)
                values.append(result.values)
                verdicts.append(result.met)
                log_p += result.log_likelihood  # exact, under the same model and conditions
            else:
                log_p += float(loaded.model.log_likelihood(bar1, bar2, conditions=codes[None])[0])
        for name, seconds in phrase_timing.items():
            timing[name] = timing.get(name, 0.0) + seconds
        generation = plan.generation(seed, continuations, tuned, values, verdicts, log_p, seed_value)
        found.setdefault(generation.result, generation)
        if len(found) == variations:
            break
    ranked = sorted(found.values(), key=lambda g: -g.log_likelihood)
    performances = plan.perform(ranked, [seed_value + rank for rank in range(len(ranked))], tempo_bpm, groove, timing)
    return _timed(ranked, performances, timing, ranked=True)


# Seeds played and tuned per batched call of generate_batch: two of the tuner's slices (MethodConfig.slice_patterns),
# so that its worker threads share each call, while the model's and the tuner's arrays stay bounded.
MAX_BATCH_SEEDS = 1024


def generate_batch(
    seeds: Sequence[Seed],
    requests: dict[str, str | float] | None = None,
    *,
    n_bars: int = 1,
    temperature: float | None = None,
    top_p: float | None = None,
    fill: bool = False,
    seed_value: int = 0,
    model: LoadedModel | None = None,
    tuning: TuningOptions | None = None,
    keep: Sequence[str] = (),
    humanize: float = 1.0,
    swing: float = 50.0,
    tempo_bpm: float | None = None,
    groove: GrooveModel | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Generation, ...]:
    """:func:`generate` for many seeds in one call, for services: one generation per seed, in order.

    Each bar of the phrase is played for ``MAX_BATCH_SEEDS`` seeds at a time in one model call and tuned for all of
    them through the tuner's batched door (:func:`jaki.tuner.methods.tune_batch`; one call per set of condition
    codes: performed and programmed seeds differ). The same ``seed_value`` gives the same generations. A sampled
    continuation draws from one generator for the whole batch, so a seed's bars differ from those its own
    :func:`generate` call plays unless the decoding is greedy (temperature 0); the groove model plays every seed
    with ``seed_value``, as :func:`generate` does. ``progress`` hears the seeds done after each batched call;
    ``timing_ms`` is the whole call's.
    """
    import torch

    if not seeds:
        raise JakiInputError("no seeds to generate from")
    timing: dict[str, float] = {}
    plan = _plan(requests, n_bars, temperature, top_p, fill, seed_value, model, tuning, keep, humanize, swing, timing)
    generator = torch.Generator().manual_seed(seed_value)
    generations: list[Generation] = []
    for first in range(0, len(seeds), MAX_BATCH_SEEDS):
        chunk = seeds[first : first + MAX_BATCH_SEEDS]
        generations += _play_batch(plan, chunk, generator, seed_value, keep, timing)
        if progress is not None:
            progress(len(generations))
    performances = plan.perform(generations, [seed_value] * len(generations), tempo_bpm, groove, timing)
    return _timed(generations, performances, timing, ranked=False)


def _play_batch(
    plan: _Plan,
    seeds: Sequence[Seed],
    generator: torch.Generator,
    seed_value: int,
    keep: Sequence[str],
    timing: dict[str, float],
) -> list[Generation]:
    """One batched pass of :func:`generate_batch`: every bar of every seed's phrase, played and tuned."""
    import torch

    from jaki.tuner import ModelScorer
    from jaki.tuner.methods import tune_batch
    from jaki.tuner.targets import target_arrays

    model, targets = plan.loaded.model, plan.targets
    seed_bars = np.stack([seed.pattern.binary().categories() for seed in seeds])
    seed_codes = [plan.bar_codes(seed) for seed in seeds]
    continuations: list[list[Pattern]] = [[] for _ in seeds]
    tuned: list[list[Pattern]] = [[] for _ in seeds]
    values: list[list[dict[str, float]]] = [[] for _ in seeds]
    verdicts: list[list[dict[str, bool]]] = [[] for _ in seeds]
    log_p = np.zeros(len(seeds))
    for index, bar_decoding in enumerate(plan.bar_decodings):
        codes = np.stack([bar_codes[index] for bar_codes in seed_codes])  # (B, k)
        clock = time.perf_counter()
        bars = model.play(torch.as_tensor(seed_bars), bar_decoding, generator=generator, conditions=codes).numpy()
        timing["continuation"] = timing.get("continuation", 0.0) + _lap(clock)
        for row, bar in enumerate(bars):
            continuations[row].append(Pattern.from_categories(bar))
        if not targets.requested():
            log_p += model.log_likelihood(seed_bars, bars, conditions=codes).numpy()
            continue
        clock = time.perf_counter()
        distinct, group = np.unique(codes, axis=0, return_inverse=True)
        for number, group_codes in enumerate(distinct):
            rows = np.flatnonzero(group.ravel() == number)
            outcome = tune_batch(
                plan.method,
                seed_bars[rows],
                bars[rows],
                target_arrays([targets] * len(rows), plan.loaded.bands),
                scorer=ModelScorer(model, conditions=group_codes),
                bands=plan.loaded.bands,
                agent=plan.agent,
                reward=plan.reward,
                keep=keep,
                rng=np.random.default_rng(seed_value + index),
                refine=plan.refine,
            )
            for at, row in enumerate(rows):
                tuned[row].append(Pattern.from_categories(outcome.bars[at]))
                values[row].append(dict(zip(TUNER_FEATURES, outcome.values[at].tolist(), strict=True)))
                verdicts[row].append(
                    {f: bool(outcome.met[at, i]) for i, f in enumerate(TUNER_FEATURES) if outcome.requested[at, i]}
                )
            log_p[rows] += outcome.log_likelihood
        timing["tuning"] = timing.get("tuning", 0.0) + _lap(clock)
    return [
        plan.generation(seed, continuations[row], tuned[row], values[row], verdicts[row], float(log_p[row]), seed_value)
        for row, seed in enumerate(seeds)
    ]


@dataclass(frozen=True)
class _Plan:
    """What a generation call settles before it plays a bar (the model and how it plays, the tuner and its aim,
    each bar's fill and decoding), and what it does with the bars it played: shared by every way to generate."""

    loaded: LoadedModel
    decoding: Decoding
    targets: Targets
    agent: TuningAgent | None
    reward: RewardConfig | None
    refine: RefineConfig | None
    method: str
    feel: FeelOptions
    fills: list[bool]
    bar_decodings: list[Decoding]

    def bar_codes(self, seed: Seed) -> list[np.ndarray]:
        """The condition codes of each bar of the phrase after ``seed``."""
        programmed = int(not is_performed(seed.pattern))
        return [
            codes_for(self.loaded.config.conditions, programmed=programmed, fill=int(is_fill), position=index + 1)
            for index, is_fill in enumerate(self.fills)
        ]

    def generation(
        self,
        seed: Seed,
        continuations: list[Pattern],
        tuned: list[Pattern],
        values: list[dict[str, float]],
        verdicts: list[dict[str, bool]],
        log_p: float,
        seed_value: int,
    ) -> Generation:
        """The generation of a phrase: its bars as played and tuned, each bar's feature values and verdicts."""
        return Generation(
            seed=seed,
            continuation=Pattern.concat(continuations),
            tuned=Pattern.concat(tuned) if tuned else None,
            outcomes=tuple(
                TargetOutcome(
                    feature,
                    request,
                    band,
                    tuple(bar_values[feature] for bar_values in values),
                    tuple(bar_met[feature] for bar_met in verdicts),
                )
                for feature, request, band in _requested_bands(self.targets, self.loaded.bands)
            ),
            seed_value=seed_value,
            model_name=str(self.loaded.metadata.get("name", "continuation")),
            method=self.method if tuned else "none",
            decoding=self.decoding,
            log_likelihood=log_p,
        )

    def perform(
        self,
        generations: Sequence[Generation],
        seed_values: Sequence[int],
        tempo_bpm: float | None,
        groove: GrooveModel | None,
        timing: dict[str, float],
    ) -> list[Performance | None]:
        """The groove model plays each generation's bars, after the tuner (``seed_values``: its draws)."""
        import torch

        from jaki.groove import load_groove

        if self.feel.quantized:
            return [None] * len(generations)
        clock = time.perf_counter()
        groove = groove if groove is not None else load_groove()
        timing["load_groove"] = _lap(clock)
        clock = time.perf_counter()
        performances: list[Performance | None] = [
            perform(
                groove,
                g.seed.pattern,
                g.continuation,
                g.tuned,
                tempo_bpm=tempo_bpm or g.seed.tempo_bpm or DEFAULT_TEMPO_BPM,
                options=self.feel,
                generator=torch.Generator().manual_seed(value),
            )
            for g, value in zip(generations, seed_values, strict=True)
        ]
        timing["feel"] = _lap(clock)
        return performances


def _plan(
    requests: dict[str, str | float] | None,
    n_bars: int,
    temperature: float | None,
    top_p: float | None,
    fill: bool,
    seed_value: int,
    model: LoadedModel | None,
    tuning: TuningOptions | None,
    keep: Sequence[str],
    humanize: float,
    swing: float,
    timing: dict[str, float],
) -> _Plan:
    """Check a call's options and load what it needs (the model, the agent), timing the loads into ``timing``."""
    from jaki.tuner import RefineConfig, RewardConfig, Targets, keep_mask, load_agent
    from jaki.weights import load_model

    if not 1 <= n_bars <= MAX_BARS:
        raise JakiInputError(f"--bars {n_bars}: expected 1..{MAX_BARS}")
    tuning = tuning or TuningOptions()
    if tuning.closeness is not None and not (math.isfinite(tuning.closeness) and tuning.closeness >= 0):
        raise JakiInputError(f"--closeness {tuning.closeness}: expected 0 or more")
    check_seed_value(seed_value)
    targets = Targets(**(requests or {}))
    keep_mask(keep, 1)  # unknown part names fail here, before any work
    feel = FeelOptions(humanize=humanize, swing=swing)
    clock = time.perf_counter()
    loaded = model if model is not None else load_model()
    timing["load_model"] = _lap(clock)
    decoding = _decoding(loaded.decoding, temperature, top_p)
    agent, reward, refine, method = None, None, None, tuning.method
    if targets.requested():
        clock = time.perf_counter()
        if tuning.refine_seconds > 0:
            method, refine = "refine", RefineConfig(steps=1_000_000, seconds=tuning.refine_seconds)
        if method in ("agent", "refine"):
            agent = load_agent(tuning.agent_dir)
            reward = agent.reward
        reward = replace(
            reward or RewardConfig(), **({} if tuning.closeness is None else {"closeness": tuning.closeness})
        )
        timing["load_agent"] = _lap(clock)
    fills = [fill and index == n_bars - 1 for index in range(n_bars)]
    # A fill replaces the groove: its bar is not held to the backbone's hits.
    bar_decodings = [replace(decoding, keep_share=0.0) if is_fill else decoding for is_fill in fills]
    return _Plan(loaded, decoding, targets, agent, reward, refine, method, feel, fills, bar_decodings)


def _timed(
    generations: Sequence[Generation],
    performances: Sequence[Performance | None],
    timing: dict[str, float],
    *,
    ranked: bool,
) -> tuple[Generation, ...]:
    """The generations, each with the call's timing, its performance and its rank (``ranked``: variations of one
    seed, most likely first; else each the first of its own seed)."""
    timing["total"] = sum(timing.values())
    timing_ms = {name: 1000 * seconds for name, seconds in timing.items()}
    return tuple(
        replace(g, rank=rank if ranked else 1, timing_ms=timing_ms, performance=played)
        for rank, (g, played) in enumerate(zip(generations, performances, strict=True), start=1)
    )


def _decoding(default: Decoding, temperature: float | None, top_p: float | None) -> Decoding:
    """The model's own way of playing, with what the user set instead."""
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 10):
        raise JakiInputError(f"--temperature {temperature}: expected 0 (most likely bar) or more, up to 10")
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        raise JakiInputError(f"--top-p {top_p}: expected more than 0 and at most 1")
    return replace(
        default,
        temperature=default.temperature if temperature is None else temperature,
        top_p=default.top_p if top_p is None else top_p,
    )


def _lap(started: float) -> float:
    return time.perf_counter() - started


def _requested_bands(targets: Targets, bands: FeatureBands) -> list[tuple[str, str | float, Band]]:
    return [
        (feature, getattr(targets, feature), band) for feature, band in targets.bands(bands).items() if band is not None
    ]


def bar_features(pattern: Pattern) -> list[dict[str, float]]:
    """The four tuner features of every bar."""
    return [tuner_features(bar) for bar in pattern.bars()]


# --- the JSON document ----------------------------------------------------------------------------------------------
def pattern_document(pattern: Pattern) -> dict:
    """A pattern as JSON: its grid rows and features (of bar 1), and each bar's when it has several."""
    per_bar = bar_features(pattern)
    document = {"grid": pattern.grid_rows(), "features": per_bar[0]}
    if pattern.n_bars > 1:
        document["bars"] = [
            {"grid": bar.grid_rows(), "features": features}
            for bar, features in zip(pattern.bars(), per_bar, strict=True)
        ]
    return document


def generation_document(generation: Generation, files: Mapping[str, Path] | None = None) -> dict:
    """The one JSON document of a generation: what ``jaki generate --json`` prints and the studio's API returns.

    ``files`` are the files written (by role); the studio writes none, so its documents carry ``"files": {}``.
    """
    return {
        "seed": {**pattern_document(generation.seed.pattern), "source": generation.seed.source},
        "continuation": pattern_document(generation.continuation),
        "tuned": pattern_document(generation.result),
        "method": generation.method,
        "decoding": {"temperature": generation.decoding.temperature, "top_p": generation.decoding.top_p},
        "rank": generation.rank,
        "log_likelihood": round(generation.log_likelihood, 4),
        "targets": {
            outcome.feature: {
                "level": outcome.request,
                "band": [outcome.band.lo, outcome.band.hi],
                "value": outcome.values[0],
                "values": list(outcome.values),
                "met": outcome.met,
            }
            for outcome in generation.outcomes
        },
        "feel": None if generation.performance is None else generation.performance.document(),
        "files": {name: str(path) for name, path in (files or {}).items()},
        "seed_value": generation.seed_value,
        "model": generation.model_name,
        "timing_ms": {name: round(value, 3) for name, value in generation.timing_ms.items()},
    }


def variations_document(
    generations: Sequence[Generation], files: Sequence[Mapping[str, Path]] | None = None, *, asked: int = 1
) -> dict:
    """What ``jaki generate --json`` prints for one call: the likeliest generation's document and, when ``asked``
    for several variations, every distinct one's under ``variations`` (most likely first)."""
    documents = [
        generation_document(generation, written)
        for generation, written in zip(generations, files or [None] * len(generations), strict=True)
    ]
    return documents[0] if asked == 1 else {**documents[0], "variations": documents}


# --- files --------------------------------------------------------------------------------------------------------
def output_paths(out_dir: Path, *, wav: bool = False, png: bool = False) -> dict[str, Path]:
    """The files a generation writes, by role: seed, continuation, tuned, loop (and wav, png when asked)."""
    paths = {name.removesuffix(".mid"): out_dir / name for name in OUTPUT_FILES}
    if wav:
        paths["wav"] = out_dir / "loop.wav"
    if png:
        paths["png"] = out_dir / "patterns.png"
    return paths


def generation_midi(generation: Generation, *, tempo_bpm: float, open_note: int = 46) -> dict[str, mido.MidiFile]:
    """The MIDI files of a generation by role (seed, continuation, tuned, loop): written to disk by
    :func:`write_generation`, downloaded from the studio."""
    return {
        role: drum_midi_file(pattern, tempo_bpm=tempo_bpm, open_note=open_note)
        for role, pattern in generation.midi_patterns().items()
    }


def write_generation(
    generation: Generation,
    out_dir: Path,
    *,
    tempo_bpm: float,
    open_note: int = 46,
    force: bool = False,
    wav: bool = False,
    png: bool = False,
    soundfont: Path | None = None,
) -> dict[str, Path]:
    """Write seed, continuation, tuned and loop MIDI files (and optionally WAV/PNG) into ``out_dir``.

    All or nothing: every file is checked before the first is written, and the set is written in a staging folder
    that becomes ``out_dir`` (or moves into it) only once complete (:func:`jaki.io.staged_folder`): a failure or an
    interrupt leaves no partial set that a rerun would trip on.
    """
    from jaki.io import check_output_folder, staged_folder
    from jaki.render import render_png, render_wav

    out_dir = Path(out_dir)
    paths = output_paths(out_dir, wav=wav, png=png)
    check_output_folder(out_dir, [path.name for path in paths.values()], overwrite=force, create_parents=True)
    midi_files = generation_midi(generation, tempo_bpm=tempo_bpm, open_note=open_note)
    with staged_folder(out_dir, overwrite=force) as staging:
        staged = {name: staging / path.name for name, path in paths.items()}
        for name, midi in midi_files.items():
            midi.save(staged[name])
        if wav:
            loop_seconds = generation.loop.n_bars * 4 * 60.0 / tempo_bpm  # 4/4 bars
            render_wav(staged["loop"], staged["wav"], soundfont=soundfont, loop_seconds=loop_seconds)
        if png:
            played = generation.midi_patterns()
            panels = [("seed", played["seed"]), ("continuation", played["continuation"])]
            if generation.tuned is not None:
                panels.append(("tuned", played["tuned"]))
            render_png(panels, staged["png"], tempo_bpm=tempo_bpm)
    return paths
