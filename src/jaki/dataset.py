"""Training data: every 2-bar 4/4 window of a folder of drum MIDI files and BFD3 palettes, in one ``.npz`` file
or a folder of shards.

A **loop** is two consecutive 4/4 bars of one performance (a MIDI file, or one groove of a palette): bar 1 is what
the model hears, bar 2 what it has to continue with. :func:`build_dataset` takes every such window with a hop of
``hop`` bars, drops windows whose bar 2 has fewer than ``min_hits_bar2`` hits (as the original did), and drops exact
duplicates (same 32×5 binary hits) **within the train split** (:data:`DEDUPLICATED_SPLITS`; the first one in build
order — sources as given, files sorted by path, bars ascending — is kept): repeats would only re-weight the training
loss. Validation and test keep every window, so that evaluation sees real playing as it is (on the Groove MIDI
Dataset they are exactly the 2,045 / 2,075 windows of ANCHORS.md), and identical windows in different splits are
kept too: they come from different performances (splits are per performance). How many validation/test loops
also occur in train is recorded in ``meta["cross_split_duplicates"]``.

**Splits.** A MIDI file listed in an ``info.csv`` (the Groove MIDI Dataset's, found in the file's folder or any
folder above it, matched on ``midi_filename``) takes that row's ``split``, ``style`` (the part before ``/``),
``drummer`` and ``beat_type``. Every other file is split by a hash of its path relative to its source folder
(80 / 10 / 10 %), so that all windows of one file, and all grooves of one palette, land in one split.

**File format** (``DATASET_FORMAT_VERSION`` 1): one ``.npz`` archive read with ``allow_pickle=False``:

============== ================= ====================================================================
array          dtype, shape      content
============== ================= ====================================================================
``hits``       bool (N, 32, 5)   parts kick, snare, closed, open, toms; steps 0-15 bar 1, 16-31 bar 2
``velocities`` float32 (N,32,5)  0..1, 0 where no hit
``offsets_ms`` float32 (N,32,5)  deviation from the grid (+ = late), NaN where no hit
``source``     unicode (N,)      file path relative to its source folder (``/``-separated)
``groove``     unicode (N,)      groove name inside a palette; "" for MIDI
``bar_index``  int64 (N,)        0-based index of bar 1 in its performance
``tempo``      float64 (N,)      bpm of bar 1
``style``      unicode (N,)      e.g. "funk"; "" when unknown
``drummer``    unicode (N,)      e.g. "drummer1"; "" when unknown
``kind``       unicode (N,)      "beat", "fill" or ""
``split``      unicode (N,)      "train", "validation" or "test"
``meta``       unicode ()        JSON: format_version, build parameters, sources, created, report,
                                 cross_split_duplicates, content_hash (SHA-256 of all arrays above)
============== ================= ====================================================================

**A folder of shards** holds the same dataset (same arrays once put together, same content hash): ``dataset.json``
(the meta above as JSON, plus ``shards``: ``[{"file": "shard-00000.npz", "loops": n}, ...]`` in order) and the
shards, each an ``.npz`` of the arrays above (no ``meta``). :func:`load_dataset` reads either; every command that
takes a dataset takes both.

**Building at scale** (:func:`write_dataset`, ``jaki dataset build``): the files are cut into tasks of
``BuildConfig.files_per_shard`` files (:func:`plan_build`), each read by a worker (:func:`read_shard`, a pure
function of its task; :mod:`jaki.backends` runs them in a process pool or on a Dask cluster) into a compressed
shard kept in the work folder ``OUT.partial``, so that memory is bounded by a shard, not the corpus. The shards are
then put together in build order — duplicates dropped as above, so the result does not depend on how many workers
there were or in which order they finished — and streamed into one file or a folder of shards. Only the drum channel
of a MIDI file is read (:func:`jaki.midi.read_drum_midi`); a readable file without drum notes (a song with no drum
track) is skipped and counted as ``no drums``, a damaged one as ``unreadable file``, named in the report.
**Resume**: the work folder outlives an interrupted build (Ctrl-C, a kill: shards are written atomically), and
the next build of the same ``OUT`` reads only the files of the shards that are not there; a shard's name is a hash
of its files (path, size, modification time), their labels and the options, so a changed file is read again. The
one part of a build that grows with the corpus is the set of distinct train loops the duplicate check keeps (about
100 bytes each).

For training, :meth:`LoopDataset.training_arrays` gives bar 1 and bar 2 as (n, 16) int64 category indices of one
split (the 32-category codec of :mod:`jaki.pattern`); :meth:`LoopDataset.categories` and
:meth:`LoopDataset.split_mask` give the same for custom selections, ``hits`` the multi-hot form.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tokenize
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import jaki
from jaki.bfd import read_bfd_palette
from jaki.errors import JakiInputError
from jaki.features import TUNER_FEATURES, FeatureBands, bands_to_json, level_bands, tuner_feature_values
from jaki.io import atomic_write, check_new_file, check_output_folder, read_bounded, staged_folder
from jaki.kit import HIT_THRESHOLD
from jaki.midi import NoDrumNotes, read_drum_midi
from jaki.pattern import N_PARTS, PARTS, STEPS_PER_BAR, Pattern, hits_to_categories

DATASET_FORMAT_VERSION = 1
MAX_DATASET_BYTES = 4 << 30  # unpacked; the whole Groove MIDI Dataset is about 30 MB
SPLITS: tuple[str, ...] = ("train", "validation", "test")
KINDS: tuple[str, ...] = ("beat", "fill", "")
MIDI_SUFFIXES: tuple[str, ...] = (".mid", ".midi")
BFD_SUFFIX = ".bfd3pal"
LOOP_BARS = 2
LOOP_STEPS = LOOP_BARS * STEPS_PER_BAR
# Share of hash-split files per split, in SPLITS order.
HASH_SPLIT_PERCENT: tuple[int, ...] = (80, 10, 10)
METADATA_FILE = "info.csv"
# Splits whose exact duplicate windows are removed (module docstring).
DEDUPLICATED_SPLITS: tuple[str, ...] = ("train",)

# Skip reasons of BuildReport.skipped, and what each one counts.
NOT_FOUR_FOUR = "not 4/4"  # bars
NOT_FOUR_FOUR_FILE = "not 4/4 file"  # files whose info.csv row gives another time signature (not read)
TOO_FEW_HITS = "too few hits"  # windows
DUPLICATE = "duplicate"  # windows
NO_DRUMS = "no drums"  # files: readable MIDI without drum notes (a song with no drum track, midi.NoDrumNotes)
UNREADABLE = "unreadable file"  # files
SKIP_REASONS: tuple[str, ...] = (NOT_FOUR_FOUR, NOT_FOUR_FOUR_FILE, TOO_FEW_HITS, DUPLICATE, NO_DRUMS, UNREADABLE)

_LOOP_ARRAYS = ("hits", "velocities", "offsets_ms")
_TEXT_ARRAYS = ("source", "groove", "style", "drummer", "kind", "split")
_ARRAYS = (*_LOOP_ARRAYS, *_TEXT_ARRAYS, "bar_index", "tempo")
_DTYPES = {
    "hits": np.bool_,
    "velocities": np.float32,
    "offsets_ms": np.float32,
    "bar_index": np.int64,
    "tempo": np.float64,
}
SHARDS_MANIFEST = "dataset.json"  # a folder of shards: its meta and the list of its shard files
MAX_MANIFEST_BYTES = 64 << 20  # the meta of a folder of shards (it lists every unreadable file of the build)

ProgressCallback = Callable[[int, int, Path], None]
"""Called as files finish, as ``progress(files_done, files_total, path)``: after each file in
:func:`build_dataset`, after each shard of files in :func:`write_dataset` (``path`` its last file)."""


@dataclass(frozen=True, eq=False)
class LoopDataset:
    """Two-bar loops with their layers and labels; every per-loop array has the same length N (module docstring)."""

    hits: np.ndarray
    velocities: np.ndarray
    offsets_ms: np.ndarray
    source: np.ndarray
    groove: np.ndarray
    bar_index: np.ndarray
    tempo: np.ndarray
    style: np.ndarray
    drummer: np.ndarray
    kind: np.ndarray
    split: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.hits)
        for name in _ARRAYS:
            array = np.asarray(getattr(self, name))
            expected = (n, LOOP_STEPS, N_PARTS) if name in _LOOP_ARRAYS else (n,)
            if array.shape != expected:
                raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
        unknown = set(np.unique(self.split)) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split name(s) {sorted(unknown)}; splits are {', '.join(SPLITS)}")

    def __len__(self) -> int:
        return len(self.hits)

    def categories(self) -> np.ndarray:
        """(N, 32) int64 category indices (0..31) of every loop."""
        return hits_to_categories(self.hits)

    def split_mask(self, name: str) -> np.ndarray:
        """(N,) bool: which loops belong to split ``name``."""
        if name not in SPLITS:
            raise JakiInputError(f"split {name!r}: unknown (expected one of {', '.join(SPLITS)})")
        return self.split == name

    def training_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(bar 1, bar 2) of one split as (n, 16) int64 category indices: the model's input and target."""
        categories = self.categories()[self.split_mask(split)]
        return categories[:, :STEPS_PER_BAR], categories[:, STEPS_PER_BAR:]

    def pattern(self, index: int) -> Pattern:
        """Loop ``index`` as a 2-bar Pattern with its velocity and timing layers."""
        return Pattern(self.hits[index], self.velocities[index], self.offsets_ms[index])

    def bar2_feature_values(self, split: str = "train") -> np.ndarray:
        """(n, 4) tuner feature values (``features.TUNER_FEATURES`` order) of the bar 2s of one split."""
        return tuner_feature_values(self.training_arrays(split)[1])

    def content_hash(self) -> str:
        """SHA-256 of every per-loop array (names, dtypes, shapes and bytes): identifies the data a model saw."""
        digest = _ContentHash()
        for name in _ARRAYS:
            array = np.asarray(getattr(self, name))
            digest.start(name, array.dtype, array.shape)
            digest.add(array)
        return digest.hexdigest()


class _ContentHash:
    """The content hash, fed array by array and each array piece by piece: one rule for a dataset in memory and
    for one written shard by shard (:func:`write_dataset`), so that both give the same hash."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def start(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        self._digest.update(f"{name}:{dtype.str}:{tuple(shape)};".encode())

    def add(self, piece: np.ndarray) -> None:
        self._digest.update(np.ascontiguousarray(piece).tobytes())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@dataclass(frozen=True)
class BuildReport:
    """What a build read and what it left out.

    ``skipped`` counts, per reason: ``not 4/4`` bars, ``too few hits`` and ``duplicate`` windows, ``not 4/4
    file``, ``no drums`` and ``unreadable file`` files; ``unreadable`` lists those files (path, one-line reason).
    """

    files_read: int
    bars_read: int
    windows_kept: int
    skipped: dict[str, int]
    unreadable: tuple[tuple[str, str], ...]

    def to_json(self) -> dict:
        return {
            "files_read": self.files_read,
            "bars_read": self.bars_read,
            "windows_kept": self.windows_kept,
            "skipped": dict(self.skipped),
            "unreadable": [list(item) for item in self.unreadable],
        }


@dataclass(frozen=True)
class BuildConfig:
    """How :func:`write_dataset` cuts its work; never what the dataset holds (the same loops for any value)."""

    files_per_shard: int = 64  # files one task reads: the unit of parallel work, of the build's memory and of resume


@dataclass(frozen=True)
class BuildResult:
    """What :func:`write_dataset` wrote: its report, the dataset's meta (content hash included), the loops per
    split, and how many files an earlier, interrupted build of the same ``out`` had already read."""

    report: BuildReport
    meta: dict
    loops: dict[str, int]
    files_resumed: int


@dataclass(frozen=True)
class _SourceFile:
    path: Path
    relative: str  # posix path relative to its source folder (the file name for a file source)


@dataclass(frozen=True)
class _Labels:
    style: str = ""
    drummer: str = ""
    kind: str = ""
    split: str | None = None
    four_four: bool = True


@dataclass(frozen=True)
class _Performance:
    """Consecutively numbered 4/4 bars of one file or palette groove, as (n_bars, 16, 5) layers."""

    groove: str
    bar_index: np.ndarray
    hits: np.ndarray
    velocities: np.ndarray
    offsets_ms: np.ndarray
    tempo: np.ndarray
    kind: str = ""
    style: str = ""


@dataclass(frozen=True)
class ShardTask:
    """Files one worker reads into one shard of windows, with all that decides what the shard holds: a pure
    function of the task (:func:`read_shard`), so that it can run in any process of any machine."""

    files: tuple[_SourceFile, ...]
    labels: tuple[_Labels, ...]  # from the info.csv files, looked up once by the process that plans the build
    hop: int
    min_hits_bar2: int


@dataclass
class _Tally:
    """The counts of a build's report, added up file by file and shard by shard."""

    files_read: int = 0
    bars_read: int = 0
    skipped: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(SKIP_REASONS, 0)))
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        self.files_read += other.files_read
        self.bars_read += other.bars_read
        self.skipped.update(other.skipped)
        self.unreadable.extend(other.unreadable)

    def to_json(self) -> dict:
        return {
            "files_read": self.files_read,
            "bars_read": self.bars_read,
            "skipped": dict(self.skipped),
            "unreadable": [list(item) for item in self.unreadable],
        }

    @classmethod
    def from_json(cls, data: dict) -> _Tally:
        tally = cls(int(data["files_read"]), int(data["bars_read"]))
        tally.skipped.update({str(k): int(v) for k, v in data["skipped"].items()})
        tally.unreadable = [(str(name), str(reason)) for name, reason in data["unreadable"]]
        return tally

    def report(self, windows_kept: int) -> BuildReport:
        return BuildReport(self.files_read, self.bars_read, windows_kept, dict(self.skipped), tuple(self.unreadable))


def build_dataset(
    sources: Sequence[str | Path],
    *,
    hop: int = 1,
    min_hits_bar2: int = 2,
    progress: ProgressCallback | None = None,
) -> tuple[LoopDataset, BuildReport]:
    """Build the loop dataset from files and folders (searched recursively) of ``.mid``/``.midi``/``.bfd3pal``, in
    this process and in memory (for a large corpus, :func:`write_dataset` writes the same dataset in shards).

    A missing source or an empty selection is a JakiInputError before any work; a file that cannot be read is
    counted, named in the report and skipped. See the module docstring for windows, duplicates and splits.
    """
    tasks = plan_build(sources, hop=hop, min_hits_bar2=min_hits_bar2, files_per_shard=1)
    assembly = _Assembly()
    parts = []
    for done, task in enumerate(tasks, start=1):
        shard = read_shard(task)
        keep = assembly.add(shard.arrays, shard.tally)
        if keep.any():
            parts.append(_narrowed({name: shard.arrays[name][keep] for name in _ARRAYS}))
        if progress is not None:
            progress(done, len(tasks), task.files[-1].path)
    arrays = {name: _concatenate([part[name] for part in parts], name) for name in _ARRAYS}
    report = assembly.tally.report(len(arrays["hits"]))
    dataset = LoopDataset(**arrays, meta=_build_meta(sources, hop, min_hits_bar2, report, assembly.cross_split()))
    dataset.meta["content_hash"] = dataset.content_hash()
    return dataset, report


def _check_build_options(hop: int, min_hits_bar2: int, files_per_shard: int) -> None:
    if hop < 1:
        raise JakiInputError(f"hop {hop}: must be at least 1 bar")
    if min_hits_bar2 < 0:
        raise JakiInputError(f"min_hits_bar2 {min_hits_bar2}: must be 0 or more")
    if files_per_shard < 1:
        raise JakiInputError(f"files per shard {files_per_shard}: must be at least 1")


def plan_build(
    sources: Sequence[str | Path], *, hop: int = 1, min_hits_bar2: int = 2, files_per_shard: int = 1
) -> list[ShardTask]:
    """The build of ``sources`` as tasks of ``files_per_shard`` files each, in build order (files sorted, each
    source as given), with every file's info.csv labels looked up."""
    _check_build_options(hop, min_hits_bar2, files_per_shard)
    files = find_source_files(sources)
    metadata = _MetadataIndex()
    labels = [metadata.labels(source_file.path) for source_file in files]
    return [
        ShardTask(tuple(files[i : i + files_per_shard]), tuple(labels[i : i + files_per_shard]), hop, min_hits_bar2)
        for i in range(0, len(files), files_per_shard)
    ]


@dataclass(frozen=True)
class _Shard:
    """The windows of a task's files that have enough bar-2 hits, in build order (duplicates are removed only
    when shards are put together, in build order), and what reading the files counted."""

    arrays: dict[str, np.ndarray]
    tally: _Tally


def read_shard(task: ShardTask) -> _Shard:
    """Read a task's files into windows: the work a build spreads over processes and machines."""
    tally = _Tally()
    parts = []
    for source_file, labels in zip(task.files, task.labels, strict=True):
        parts.extend(_file_windows(source_file, labels, task, tally))
    arrays = {name: _concatenate([part[name] for part in parts], name) for name in _ARRAYS}
    return _Shard(arrays, tally)


def _file_windows(source_file: _SourceFile, labels: _Labels, task: ShardTask, tally: _Tally) -> list[dict]:
    """The windows of one file with enough bar-2 hits, one dict of arrays per performance, counted in ``tally``."""
    if not labels.four_four:
        tally.skipped[NOT_FOUR_FOUR_FILE] += 1
        return []
    try:
        performances, not_four_four = _read_performances(source_file.path)
    except NoDrumNotes:
        tally.skipped[NO_DRUMS] += 1
        return []
    except Exception as error:  # one bad file never aborts a build: it is named in the report instead
        tally.skipped[UNREADABLE] += 1
        reason = str(error) if isinstance(error, JakiInputError) else f"{type(error).__name__}: {error}"
        tally.unreadable.append((source_file.relative, (reason.splitlines() or [type(error).__name__])[0]))
        return []
    tally.files_read += 1
    tally.skipped[NOT_FOUR_FOUR] += not_four_four
    split = labels.split or hash_split(source_file.relative)
    parts = []
    for performance in performances:
        tally.bars_read += len(performance.bar_index)
        windows = _windows(performance, task.hop)
        enough = windows["hits"][:, STEPS_PER_BAR:].sum(axis=(1, 2)) >= task.min_hits_bar2
        tally.skipped[TOO_FEW_HITS] += int((~enough).sum())
        n = int(enough.sum())
        if n:
            parts.append(
                {
                    **{name: windows[name][enough] for name in (*_LOOP_ARRAYS, "bar_index", "tempo")},
                    "source": np.full(n, source_file.relative),
                    "groove": np.full(n, performance.groove),
                    "style": np.full(n, performance.style or labels.style),
                    "drummer": np.full(n, labels.drummer),
                    "kind": np.full(n, performance.kind or labels.kind),
                    "split": np.full(n, split),
                }
            )
    return parts


class _Assembly:
    """Puts shards together in build order: drops the duplicates of the train split (the first one in build order
    is kept), adds up the report's counts and remembers what the cross-split figure needs."""

    def __init__(self) -> None:
        self.tally = _Tally()
        # The binary hits of every kept loop of a deduplicated split: the one part of a build that grows with it.
        self.seen: dict[str, set[bytes]] = {name: set() for name in DEDUPLICATED_SPLITS}
        self.others: list[tuple[str, np.ndarray]] = []  # (split, packed hits) of the loops of the other splits

    def add(self, arrays: Mapping[str, np.ndarray], tally: _Tally) -> np.ndarray:
        """Count a shard in and say which of its windows are kept."""
        self.tally.add(tally)
        hits, split = arrays["hits"], arrays["split"]
        packed = np.packbits(hits.reshape(len(hits), LOOP_STEPS * N_PARTS), axis=1)
        keep = np.ones(len(hits), dtype=bool)
        for i in np.flatnonzero(np.isin(split, DEDUPLICATED_SPLITS)):
            seen, key = self.seen[split[i]], packed[i].tobytes()
            if key in seen:
                keep[i] = False
            else:
                seen.add(key)
        self.tally.skipped[DUPLICATE] += int((~keep).sum())
        for name in SPLITS:
            if name not in DEDUPLICATED_SPLITS and (split == name).any():
                self.others.append((name, packed[split == name]))
        return keep

    def cross_split(self) -> dict[str, int]:
        """How many validation and test loops also occur (same binary hits) in train."""
        train = self.seen["train"]  # every train loop, train being deduplicated
        counts = {name: 0 for name in SPLITS if name != "train"}
        for name, packed in self.others:
            counts[name] += sum(row.tobytes() in train for row in packed)
        return counts


def _build_meta(
    sources: Sequence[str | Path], hop: int, min_hits_bar2: int, report: BuildReport, cross_split: dict[str, int]
) -> dict:
    return {
        "format_version": DATASET_FORMAT_VERSION,
        "build": {
            "hop": hop,
            "min_hits_bar2": min_hits_bar2,
            "hit_threshold": HIT_THRESHOLD,
            "deduplicated_splits": list(DEDUPLICATED_SPLITS),
        },
        "sources": [str(Path(source)) for source in sources],
        "created": {"utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "jaki_version": jaki.__version__},
        "report": report.to_json(),
        "cross_split_duplicates": cross_split,
    }


def _narrowed(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with each text array as wide as its longest string (at least 1), as ``np.full`` makes them and
    ``np.concatenate`` keeps them: what a file, a folder of shards and a build in memory store alike, so that the
    three give the same content hash."""
    return {
        name: array.astype(f"<U{np.char.str_len(array).max(initial=1)}") if name in _TEXT_ARRAYS else array
        for name, array in arrays.items()
    }


# --- building at scale: shards, workers, resume -----------------------------------------------------------------

Runner = Callable[[Sequence[ShardTask]], Iterator[tuple[ShardTask, bytes]]]
"""Runs the tasks somewhere (:mod:`jaki.backends`) and yields each one with :func:`shard_bytes` of it, in the order
they finish."""

WORK_SUFFIX = ".partial"  # the work folder of a build of ``out`` is ``out`` + this, beside it
_WORK_MANIFEST = "build.json"  # marks a work folder as one (so that only a build's own folder is ever removed)
_SHARD_VERSION = 1  # of the work folder's shard files; part of every shard's key


def shard_bytes(task: ShardTask) -> bytes:
    """:func:`read_shard` as one compressed ``.npz`` (its arrays and its counts): what a worker sends back, small and
    compressed where the work is spread."""
    shard = read_shard(task)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **shard.arrays, tally=np.array(json.dumps(shard.tally.to_json())))
    return buffer.getvalue()


def run_in_process(tasks: Sequence[ShardTask]) -> Iterator[tuple[ShardTask, bytes]]:
    """The :data:`Runner` of ``--workers 1``: every task in this process, one after the other."""
    for task in tasks:
        yield task, shard_bytes(task)


def write_dataset(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    hop: int = 1,
    min_hits_bar2: int = 2,
    run: Runner = run_in_process,
    config: BuildConfig = BuildConfig(),
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> BuildResult:
    """Build the dataset of ``sources`` (as :func:`build_dataset` does, the same loops and content hash) into
    ``out``: one ``.npz`` file, or, for any other name, a folder of shards (module docstring), with memory bounded
    by a shard, whatever the corpus.

    ``run`` reads shards of ``config.files_per_shard`` files, in any order and anywhere, into the work folder
    ``out`` + ``.partial``; they are then put together in build order, written out and the work folder removed.
    An interrupted build leaves its finished shards there, and the next build of the same ``out`` reads again
    only the files of the others: a shard is named by a hash of its files (path, size, modification time), their
    labels and the options, so that a changed file or option is read again, never taken from an older build.
    """
    _check_build_options(hop, min_hits_bar2, config.files_per_shard)
    out = Path(out)
    as_folder = out.suffix.lower() != ".npz"
    _check_new_dataset(out, as_folder, overwrite)  # before reading every source, not at the save
    tasks = plan_build(sources, hop=hop, min_hits_bar2=min_hits_bar2, files_per_shard=config.files_per_shard)
    work = _work_folder(out, sources)
    shards = {task: work / f"shard-{_shard_key(task)}.npz" for task in tasks}
    total = sum(len(task.files) for task in tasks)
    pending = [task for task in tasks if not shards[task].is_file()]
    done = resumed = total - sum(len(task.files) for task in pending)
    if progress is not None:
        progress(done, total, tasks[0].files[0].path)
    results = run(pending) if pending else iter(())
    try:
        for task, data in results:

            def write(tmp_path: Path, data: bytes = data) -> None:
                tmp_path.write_bytes(data)

            atomic_write(shards[task], write, overwrite=True)
            done += len(task.files)
            if progress is not None:
                progress(done, total, task.files[-1].path)
    finally:  # stops the pool or cluster now, on an error or Ctrl-C too
        getattr(results, "close", lambda: None)()

    assembly = _Assembly()
    parts: list[tuple[Path, np.ndarray]] = []  # (work shard, which of its windows are kept), in build order
    widths = dict.fromkeys(_TEXT_ARRAYS, 1)
    loops: Counter[str] = Counter(dict.fromkeys(SPLITS, 0))
    for task in tasks:
        path = shards[task]
        arrays, tally = _read_work_shard(path, ("hits", *_TEXT_ARRAYS))
        keep = assembly.add(arrays, tally)
        if keep.any():
            parts.append((path, keep))
            loops.update(arrays["split"][keep].tolist())
            for name, array in _narrowed({name: arrays[name][keep] for name in _TEXT_ARRAYS}).items():
                widths[name] = max(widths[name], array.dtype.itemsize // 4)
    report = assembly.tally.report(sum(int(keep.sum()) for _, keep in parts))
    if report.windows_kept == 0:
        shutil.rmtree(work)
        raise JakiInputError(f"{', '.join(map(str, sources))}: no 2-bar 4/4 window found (nothing to save)")
    meta = _build_meta(sources, hop, min_hits_bar2, report, assembly.cross_split())
    columns = _columns(parts, widths, report.windows_kept)
    if as_folder:
        _write_shard_folder(out, parts, columns, meta, overwrite)
    else:
        _write_merged(out, columns, meta, overwrite)
    shutil.rmtree(work)
    return BuildResult(report, meta, dict(loops), resumed)


def _check_new_dataset(out: Path, as_folder: bool, overwrite: bool) -> None:
    """The refusals of a dataset file's or folder's save, before any work: a folder replaces only a dataset folder."""
    if not as_folder:
        check_new_file(out, overwrite=overwrite)
        return
    check_output_folder(out, [SHARDS_MANIFEST], overwrite=overwrite)
    if out.is_dir() and any(out.iterdir()) and not (out / SHARDS_MANIFEST).is_file():
        raise JakiInputError(f"{out}: a folder that is not a jaki dataset (give a new folder or a .npz file name)")


def _work_folder(out: Path, sources: Sequence[str | Path]) -> Path:
    """The work folder of a build of ``out``: created with its manifest, or an earlier build's, to resume."""
    work = out.with_name(out.name + WORK_SUFFIX)
    if work.is_dir() and (work / _WORK_MANIFEST).is_file():
        return work
    if work.exists():
        raise JakiInputError(f"{work}: exists and is not a build's work folder (move it away to build {out})")
    try:
        work.mkdir()
    except OSError as error:
        raise JakiInputError(f"{work}: cannot create the build's work folder ({error.strerror or error})") from None
    manifest = {"jaki_build": _SHARD_VERSION, "out": out.name, "sources": [str(Path(s)) for s in sources]}

    def write(tmp_path: Path) -> None:
        tmp_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    atomic_write(work / _WORK_MANIFEST, write)
    return work


def _shard_key(task: ShardTask) -> str:
    """What makes a work shard reusable: its files as they are now, their labels and the build options."""
    files = []
    for source_file in task.files:
        try:
            stat = source_file.path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            stamp = [-1, -1]  # gone since it was found: read again, counted unreadable
        files.append([str(source_file.path.resolve()), source_file.relative, *stamp])
    key = {
        "version": _SHARD_VERSION,
        "files": files,
        "labels": [asdict(labels) for labels in task.labels],
        "hop": task.hop,
        "min_hits_bar2": task.min_hits_bar2,
        "hit_threshold": HIT_THRESHOLD,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def _read_work_shard(path: Path, names: Sequence[str]) -> tuple[dict[str, np.ndarray], _Tally]:
    """Some arrays of a work shard, and its counts (a shard this build or an interrupted one wrote)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in names}, _Tally.from_json(json.loads(str(archive["tally"])))


_Column = tuple[str, np.dtype, tuple[int, ...], Iterator[np.ndarray]]


def _columns(parts: Sequence[tuple[Path, np.ndarray]], widths: Mapping[str, int], total: int) -> Iterator[_Column]:
    """The dataset's arrays one after the other, each as (name, dtype, shape, its pieces shard by shard): what the
    content hash and a merged file take, one shard's array in memory at a time."""
    for name in _ARRAYS:
        dtype = np.dtype(f"<U{widths[name]}") if name in _TEXT_ARRAYS else np.dtype(_DTYPES[name])
        shape = (total, LOOP_STEPS, N_PARTS) if name in _LOOP_ARRAYS else (total,)
        pieces = (_read_work_shard(path, (name,))[0][name][keep].astype(dtype) for path, keep in parts)
        yield name, dtype, shape, pieces


def _write_merged(out: Path, columns: Iterator[_Column], meta: dict, overwrite: bool) -> None:
    """Write one format-1 dataset file from the columns, array by array, as ``np.savez_compressed`` would have
    written them all at once, and its meta with the content hash (completed in ``meta``) last."""

    def write(tmp_path: Path) -> None:
        digest = _ContentHash()
        with zipfile.ZipFile(tmp_path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for name, dtype, shape, pieces in columns:
                digest.start(name, dtype, shape)
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array_header_1_0(entry, header)
                    for piece in pieces:
                        digest.add(piece)
                        entry.write(np.ascontiguousarray(piece).tobytes())
            meta["content_hash"] = digest.hexdigest()
            with archive.open("meta.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.array(json.dumps(meta, sort_keys=True)))

    atomic_write(out, write, overwrite=overwrite)


def _write_shard_folder(
    out: Path, parts: Sequence[tuple[Path, np.ndarray]], columns: Iterator[_Column], meta: dict, overwrite: bool
) -> None:
    """Write a folder of shards (one per work shard that keeps loops) and its manifest, which holds the meta with
    the content hash (completed in ``meta``); the folder appears, or replaces the old one, only once complete."""
    digest = _ContentHash()
    for name, dtype, shape, pieces in columns:
        digest.start(name, dtype, shape)
        for piece in pieces:
            digest.add(piece)
    meta["content_hash"] = digest.hexdigest()
    entries = []
    with staged_folder(out, overwrite=overwrite, replace=True) as staging:
        for i, (path, keep) in enumerate(parts):
            arrays = _read_work_shard(path, _ARRAYS)[0]
            entries.append({"file": f"shard-{i:05d}.npz", "loops": int(keep.sum())})
            np.savez_compressed(staging / entries[-1]["file"], **_narrowed({n: a[keep] for n, a in arrays.items()}))
        manifest = {**meta, "shards": entries}
        (staging / SHARDS_MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def find_source_files(sources: Sequence[str | Path]) -> list[_SourceFile]:
    """The readable files of the sources, in order: a folder's files sorted by relative path, each file once."""
    if not sources:
        raise JakiInputError("no source given (expected files or folders of .mid/.midi/.bfd3pal)")
    suffixes = (*MIDI_SUFFIXES, BFD_SUFFIX)
    found: list[_SourceFile] = []
    seen: set[Path] = set()
    for source in sources:
        root = Path(source)
        if root.is_dir():
            candidates = sorted(
                (_SourceFile(path, path.relative_to(root).as_posix()) for path in root.rglob("*") if path.is_file()),
                key=lambda item: item.relative,
            )
            candidates = [item for item in candidates if item.path.suffix.lower() in suffixes]
        elif root.is_file():
            if root.suffix.lower() not in suffixes:
                raise JakiInputError(f"{root}: not a .mid, .midi or .bfd3pal file")
            candidates = [_SourceFile(root, root.name)]
        else:
            raise JakiInputError(f"{root}: no such file or folder (expected files or folders of .mid/.midi/.bfd3pal)")
        for item in candidates:
            resolved = item.path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(item)
    if not found:
        raise JakiInputError(f"{', '.join(map(str, sources))}: no .mid, .midi or .bfd3pal files found")
    return found


def hash_split(relative_path: str) -> str:
    """Deterministic train/validation/test of a file without official split, from its relative path (80/10/10)."""
    bucket = int.from_bytes(hashlib.sha256(relative_path.encode("utf-8")).digest()[:8], "big") % 100
    return SPLITS[int(np.searchsorted(np.cumsum(HASH_SPLIT_PERCENT), bucket, side="right"))]


def _read_performances(path: Path) -> tuple[list[_Performance], int]:
    """The performances in one file, and how many of its bars are not 4/4."""
    if path.suffix.lower() == BFD_SUFFIX:
        palette = read_bfd_palette(path)
        performances = []
        not_four_four = 0
        for groove in palette.grooves:
            if groove.pattern is None:
                not_four_four += groove.n_bars
                continue
            bars = np.arange(groove.n_bars)
            performances.append(
                _Performance(
                    groove=groove.name,
                    bar_index=bars,
                    hits=_by_bar(groove.pattern.hits),
                    velocities=_by_bar(groove.pattern.velocities),
                    offsets_ms=_by_bar(groove.pattern.offsets_ms),
                    tempo=np.full(groove.n_bars, groove.tempo_bpm),
                    kind="fill" if groove.is_fill else "beat",
                    style=palette.genre.strip().lower(),
                )
            )
        return performances, not_four_four
    midi = read_drum_midi(path)
    bars = [bar.pattern for bar in midi.bars]
    performance = _Performance(
        groove="",
        bar_index=np.array([bar.index for bar in midi.bars], dtype=np.int64),
        hits=np.stack([bar.hits for bar in bars]),
        velocities=np.stack([_velocities(bar) for bar in bars]),
        offsets_ms=np.stack([_offsets(bar) for bar in bars]),
        tempo=np.array([bar.tempo_bpm for bar in midi.bars], dtype=np.float64),
    )
    return [performance], len(midi.skipped)


def _by_bar(layer: np.ndarray | None) -> np.ndarray:
    return np.asarray(layer).reshape(-1, STEPS_PER_BAR, N_PARTS)


def _velocities(bar: Pattern) -> np.ndarray:
    """A bar's velocities; a hit of unknown velocity counts as 1."""
    return bar.hits.astype(np.float32) if bar.velocities is None else bar.velocities


def _offsets(bar: Pattern) -> np.ndarray:
    return np.full(bar.hits.shape, np.nan, dtype=np.float32) if bar.offsets_ms is None else bar.offsets_ms


def _windows(performance: _Performance, hop: int) -> dict[str, np.ndarray]:
    """Every pair of consecutively numbered bars whose first bar is a multiple of ``hop`` bars into its run."""
    index = performance.bar_index
    starts = []
    run_start = index[0] if len(index) else 0
    for i in range(len(index)):
        if i and index[i] != index[i - 1] + 1:
            run_start = index[i]
        if i + 1 < len(index) and index[i + 1] == index[i] + 1 and (index[i] - run_start) % hop == 0:
            starts.append(i)
    first = np.array(starts, dtype=np.int64)
    windows = {
        name: np.concatenate([getattr(performance, name)[first], getattr(performance, name)[first + 1]], axis=1)
        for name in _LOOP_ARRAYS
    }
    windows["hits"] = windows["hits"].astype(bool)
    windows["velocities"] = windows["velocities"].astype(np.float32)
    windows["offsets_ms"] = windows["offsets_ms"].astype(np.float32)
    windows["bar_index"] = index[first].astype(np.int64)
    windows["tempo"] = performance.tempo[first].astype(np.float64)
    return windows


_EMPTY: Mapping[str, np.ndarray] = {
    "hits": np.zeros((0, LOOP_STEPS, N_PARTS), dtype=bool),
    "velocities": np.zeros((0, LOOP_STEPS, N_PARTS), dtype=np.float32),
    "offsets_ms": np.zeros((0, LOOP_STEPS, N_PARTS), dtype=np.float32),
    "bar_index": np.zeros(0, dtype=np.int64),
    "tempo": np.zeros(0, dtype=np.float64),
}


def _concatenate(parts: list[np.ndarray], name: str) -> np.ndarray:
    if not parts:
        return _EMPTY.get(name, np.zeros(0, dtype="<U1"))
    return np.concatenate(parts)


class _MetadataIndex:
    """Finds a MIDI file's row in an ``info.csv`` of its folder or a folder above (the GMD layout)."""

    def __init__(self) -> None:
        self._tables: dict[Path, dict[str, _Labels] | None] = {}

    def labels(self, path: Path) -> _Labels:
        if path.suffix.lower() not in MIDI_SUFFIXES:
            return _Labels()
        path = path.resolve()
        for folder in path.parents:
            table = self._table(folder)
            if table is not None:
                relative = path.relative_to(folder).as_posix()
                if relative in table:
                    return table[relative]
        return _Labels()

    def _table(self, folder: Path) -> dict[str, _Labels] | None:
        if folder not in self._tables:
            self._tables[folder] = _read_metadata(folder / METADATA_FILE)
        return self._tables[folder]


def _read_metadata(path: Path) -> dict[str, _Labels] | None:
    """midi_filename → labels of a GMD-style ``info.csv``; None when there is none or it has no such column."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not rows or "midi_filename" not in rows[0]:
        return None
    table = {}
    for row in rows:
        split = (row.get("split") or "").strip()
        kind = (row.get("beat_type") or "").strip()
        meter = (row.get("time_signature") or "").strip()
        table[(row.get("midi_filename") or "").strip()] = _Labels(
            style=(row.get("style") or "").split("/")[0].strip(),
            drummer=(row.get("drummer") or "").strip(),
            kind=kind if kind in KINDS else "",
            split=split if split in SPLITS else None,
            four_four=meter in ("", "4-4", "4/4"),
        )
    return table


# --- file format ----------------------------------------------------------------------------------------------


def save_dataset(dataset: LoopDataset, path: str | Path, *, overwrite: bool = False) -> None:
    """Write ``dataset`` as a format-1 ``.npz`` (module docstring), atomically; refuses an existing file."""
    meta = {**dataset.meta, "format_version": DATASET_FORMAT_VERSION, "content_hash": dataset.content_hash()}
    arrays = {name: np.asarray(getattr(dataset, name)) for name in _ARRAYS}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))

    def write(tmp_path: Path) -> None:
        with tmp_path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(Path(path), write, overwrite=overwrite)


_REBUILD = "rebuild it with: jaki dataset build"
_SHARD_FILE = re.compile(r"shard-\d{5,}\.npz")  # the only names a manifest may give: files of its own folder


def load_dataset(path: str | Path) -> LoopDataset:
    """Read a dataset file or a folder of shards (the same dataset either way); JakiInputError when it is missing,
    corrupt, of another format version or edited."""
    path = Path(path)
    if not path.exists():
        raise JakiInputError(f"{path}: dataset file not found (build one with: jaki dataset build)")
    if path.is_dir():
        arrays, meta = _read_shard_folder(path)
    else:
        arrays, _ = _read_archive(path, (*_ARRAYS, "meta"), MAX_DATASET_BYTES)
        meta = _parse_meta(lambda: json.loads(str(arrays.pop("meta"))), path)
        _check_dtypes(arrays, path)
    try:
        dataset = LoopDataset(**arrays, meta=meta)
    except (ValueError, TypeError) as error:  # TypeError: a 0-d array has no length
        raise JakiInputError(f"{path}: inconsistent dataset ({error}; {_REBUILD})") from None
    if dataset.content_hash() != meta.get("content_hash"):
        raise JakiInputError(f"{path}: content hash does not match its meta (file corrupt or edited; {_REBUILD})")
    problem = _value_problem(dataset)
    if problem:
        raise JakiInputError(f"{path}: {problem} ({_REBUILD})")
    return dataset


# Everything NumPy's and zipfile's readers raise on a damaged archive.
_ARCHIVE_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    RecursionError,
    SyntaxError,  # a damaged .npy header: numpy parses it with ast.literal_eval,
    tokenize.TokenError,  # and re-tokenises it when that fails
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)


def _read_archive(path: Path, names: Sequence[str], limit: int) -> tuple[dict[str, np.ndarray], int]:
    """The arrays ``names`` of one ``.npz`` (a dataset file or a shard) and how many bytes it unpacks to, refused
    past ``limit``."""
    if not read_bounded(path, 4, "a dataset file (.npz)", head=True).startswith(b"PK\x03\x04"):
        raise JakiInputError(f"{path}: not a jaki dataset (not an .npz archive; {_REBUILD})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in names if name not in archive.files]
            if missing:
                raise JakiInputError(f"{path}: not a jaki dataset (missing {', '.join(missing)}; {_REBUILD})")
            unpacked = sum(info.file_size for info in archive.zip.infolist())
            if unpacked > limit:
                raise JakiInputError(
                    f"{path}: unpacks to more than {MAX_DATASET_BYTES >> 30} GiB in all ({unpacked / 2**30:.1f} GiB "
                    f"here; {_REBUILD})"
                )
            return {name: archive[name] for name in names}, unpacked
    except JakiInputError:
        raise
    except _ARCHIVE_ERRORS as error:
        raise JakiInputError(
            f"{path}: not a readable jaki dataset ({type(error).__name__}: {_first_line(error)}; {_REBUILD})"
        ) from None


def _read_shard_folder(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of a folder of shards, put together in the manifest's order, and its meta."""
    manifest = folder / SHARDS_MANIFEST
    if not manifest.is_file():
        raise JakiInputError(
            f"{folder}: a folder without {SHARDS_MANIFEST} (expected a dataset file, or a folder of shards from "
            "jaki dataset build)"
        )
    data = read_bounded(manifest, MAX_MANIFEST_BYTES, "a dataset manifest (JSON)")
    meta = _parse_meta(lambda: json.loads(data.decode("utf-8")), manifest)
    entries = meta.pop("shards", None)
    if not (
        isinstance(entries, list)
        and entries
        and all(isinstance(entry, dict) and _SHARD_FILE.fullmatch(str(entry.get("file"))) for entry in entries)
    ):
        raise JakiInputError(f"{manifest}: no list of shard files (shard-NNNNN.npz) in it ({_REBUILD})")
    budget = MAX_DATASET_BYTES
    parts = []
    for entry in entries:
        shard = folder / entry["file"]
        arrays, unpacked = _read_archive(shard, _ARRAYS, budget)
        _check_dtypes(arrays, shard)
        parts.append(arrays)
        budget -= unpacked
    try:
        return {name: np.concatenate([part[name] for part in parts]) for name in _ARRAYS}, meta
    except ValueError as error:
        raise JakiInputError(f"{folder}: inconsistent dataset ({error}; {_REBUILD})") from None


def _parse_meta(parse: Callable[[], object], path: Path) -> dict:
    """A dataset's meta from ``parse()``, checked to be a JSON object of the format version this jaki reads."""
    try:
        meta = parse()
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JakiInputError(
            f"{path}: not a readable jaki dataset ({type(error).__name__}: {_first_line(error)}; {_REBUILD})"
        ) from None
    if not isinstance(meta, dict):
        raise JakiInputError(f"{path}: dataset meta is not a JSON object ({_REBUILD})")
    version = meta.get("format_version")
    if version != DATASET_FORMAT_VERSION:
        raise JakiInputError(
            f"{path}: dataset format version {version!r}, this jaki reads version {DATASET_FORMAT_VERSION} ({_REBUILD})"
        )
    return meta


def _check_dtypes(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    for name, dtype in _DTYPES.items():
        if arrays[name].dtype != dtype:
            raise JakiInputError(f"{path}: array {name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    for name in _TEXT_ARRAYS:
        if arrays[name].dtype.kind != "U":
            raise JakiInputError(f"{path}: array {name} is not text ({_REBUILD})")


def _value_problem(dataset: LoopDataset) -> str | None:
    """What is out of range in a dataset whose arrays have the right shapes and dtypes (a content hash only says
    the file is as written, not that what was written makes sense), or None."""
    if len(dataset) == 0:
        return "the dataset holds no loops"
    velocities, offsets = dataset.velocities, dataset.offsets_ms
    if not (np.isfinite(velocities).all() and velocities.min() >= 0 and velocities.max() <= 1):
        return "velocities outside 0..1 or not finite"
    if np.isinf(offsets).any() or np.isnan(offsets[dataset.hits]).any():
        return "timing offsets infinite, or missing on a hit"
    if not (np.isfinite(dataset.tempo).all() and dataset.tempo.min() > 0):
        return "tempos not finite and positive"
    if dataset.bar_index.min() < 0:
        return "negative bar indices"
    unknown = set(np.unique(dataset.kind)) - set(KINDS)
    if unknown:
        return f"unknown loop kind(s) {sorted(unknown)} (expected {', '.join(repr(k) for k in KINDS)})"
    return None


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]


# --- derived figures ------------------------------------------------------------------------------------------


def require_split(dataset: LoopDataset, split: str, path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """``dataset.training_arrays(split)``, or a one-line error naming the file when that split holds no loops
    (a small build, e.g. palettes only, can leave one empty; training and evaluating need loops)."""
    bars = dataset.training_arrays(split)
    if len(bars[0]) == 0:
        raise JakiInputError(
            f"{path}: the {split} split is empty (files without an info.csv split go 80/10/10 by a hash of their "
            "path, so a build from a few files can leave one empty: build from more, or evaluate another --split)"
        )
    return bars


def dataset_bands(dataset: LoopDataset) -> FeatureBands:
    """Low/medium/high bands of the four tuner features: terciles of the train split's bar 2s."""
    values = dataset.bar2_feature_values("train")
    if len(values) == 0:
        raise JakiInputError("dataset: no train loops to derive feature bands from")
    return level_bands(values)


def _distribution(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    quantiles = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    summary = dict(zip(("min", "q1", "median", "q3", "max"), map(float, quantiles), strict=True))
    summary["mean"] = float(values.mean())
    return summary


def _counts(values: Iterable[str]) -> dict[str, int]:
    counter = Counter(values)
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def dataset_summary(dataset: LoopDataset) -> dict:
    """The figures ``jaki dataset stats`` shows, as a JSON-ready dict (see its ``--json``)."""
    split_counts = {name: int(dataset.split_mask(name).sum()) for name in SPLITS}
    kinds = ["bfd3" if Path(source).suffix.lower() == BFD_SUFFIX else "midi" for source in dataset.source]
    hit_rates = dataset.hits.mean(axis=(0, 1)) if len(dataset) else np.zeros(N_PARTS)
    train_bar2 = dataset.bar2_feature_values("train")
    summary = {
        "loops": len(dataset),
        "splits": split_counts,
        "sources": len(np.unique(dataset.source)),
        "source_kinds": _counts(kinds),
        "styles": _counts(style or "unknown" for style in dataset.style),
        "kinds": _counts(kind or "unknown" for kind in dataset.kind),
        "part_hit_rates": {part: float(rate) for part, rate in zip(PARTS, hit_rates, strict=True)},
        "train_bar2_features": {
            feature: _distribution(train_bar2[:, column]) for column, feature in enumerate(TUNER_FEATURES)
        },
        "bands": bands_to_json(dataset_bands(dataset)) if len(train_bar2) else {},
        "format_version": dataset.meta.get("format_version"),
        "content_hash": dataset.meta.get("content_hash"),
        "build": dataset.meta.get("build", {}),
    }
    return summary
