"""Training data: every 2-bar 4/4 window of a folder of drum MIDI files and BFD3 palettes, in one ``.npz`` file.

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

For training, :meth:`LoopDataset.training_arrays` gives bar 1 and bar 2 as (n, 16) int64 category indices of one
split (the 32-category codec of :mod:`jaki.pattern`); :meth:`LoopDataset.categories` and
:meth:`LoopDataset.split_mask` give the same for custom selections, ``hits`` the multi-hot form.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tokenize
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import jaki
from jaki.bfd import read_bfd_palette
from jaki.errors import JakiInputError
from jaki.features import TUNER_FEATURES, FeatureBands, bands_to_json, level_bands, tuner_feature_values
from jaki.io import atomic_write, read_bounded
from jaki.kit import HIT_THRESHOLD
from jaki.midi import read_drum_midi
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
UNREADABLE = "unreadable file"  # files
SKIP_REASONS: tuple[str, ...] = (NOT_FOUR_FOUR, NOT_FOUR_FOUR_FILE, TOO_FEW_HITS, DUPLICATE, UNREADABLE)

_LOOP_ARRAYS = ("hits", "velocities", "offsets_ms")
_TEXT_ARRAYS = ("source", "groove", "style", "drummer", "kind", "split")
_ARRAYS = (*_LOOP_ARRAYS, *_TEXT_ARRAYS, "bar_index", "tempo")

ProgressCallback = Callable[[int, int, Path], None]
"""Called after each file as ``progress(files_done, files_total, path)``."""


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
        digest = hashlib.sha256()
        for name in _ARRAYS:
            array = np.ascontiguousarray(getattr(self, name))
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class BuildReport:
    """What a build read and what it left out.

    ``skipped`` counts, per reason: ``not 4/4`` bars, ``too few hits`` and ``duplicate`` windows, ``unreadable
    file`` files; ``unreadable`` lists those files (path, one-line reason).
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


def build_dataset(
    sources: Sequence[str | Path],
    *,
    hop: int = 1,
    min_hits_bar2: int = 2,
    progress: ProgressCallback | None = None,
) -> tuple[LoopDataset, BuildReport]:
    """Build the loop dataset from files and folders (searched recursively) of ``.mid``/``.midi``/``.bfd3pal``.

    A missing source or an empty selection is a JakiInputError before any work; a file that cannot be read is
    counted, named in the report and skipped. See the module docstring for windows, duplicates and splits.
    """
    if hop < 1:
        raise JakiInputError(f"hop {hop}: must be at least 1 bar")
    if min_hits_bar2 < 0:
        raise JakiInputError(f"min_hits_bar2 {min_hits_bar2}: must be 0 or more")
    files = find_source_files(sources)
    builder = _Builder(hop, min_hits_bar2)
    for done, source_file in enumerate(files, start=1):
        builder.add_file(source_file)
        if progress is not None:
            progress(done, len(files), source_file.path)
    arrays = {name: _concatenate([part[name] for part in builder.collected], name) for name in _ARRAYS}
    report = BuildReport(
        files_read=builder.files_read,
        bars_read=builder.bars_read,
        windows_kept=len(arrays["hits"]),
        skipped=dict(builder.skipped),
        unreadable=tuple(builder.unreadable),
    )
    meta = {
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
    }
    dataset = LoopDataset(**arrays, meta=meta)
    meta["cross_split_duplicates"] = _cross_split_duplicates(dataset)
    meta["content_hash"] = dataset.content_hash()
    return dataset, report


class _Builder:
    """Accumulates the kept windows of one build, file by file, with the counts of the report."""

    def __init__(self, hop: int, min_hits_bar2: int) -> None:
        self.hop = hop
        self.min_hits_bar2 = min_hits_bar2
        self.metadata = _MetadataIndex()
        self.collected: list[dict[str, np.ndarray]] = []
        self.seen: set[tuple[str, bytes]] = set()
        self.skipped: Counter[str] = Counter({reason: 0 for reason in SKIP_REASONS})
        self.unreadable: list[tuple[str, str]] = []
        self.files_read = 0
        self.bars_read = 0

    def add_file(self, source_file: _SourceFile) -> None:
        labels = self.metadata.labels(source_file.path)
        if not labels.four_four:
            self.skipped[NOT_FOUR_FOUR_FILE] += 1
            return
        try:
            performances, not_four_four = _read_performances(source_file.path)
        except Exception as error:  # one bad file never aborts a build: it is named in the report instead
            self.skipped[UNREADABLE] += 1
            reason = str(error) if isinstance(error, JakiInputError) else f"{type(error).__name__}: {error}"
            self.unreadable.append((source_file.relative, (reason.splitlines() or [type(error).__name__])[0]))
            return
        self.files_read += 1
        self.skipped[NOT_FOUR_FOUR] += not_four_four
        split = labels.split or hash_split(source_file.relative)
        for performance in performances:
            self.bars_read += len(performance.bar_index)
            windows = _windows(performance, self.hop)
            keep = self._keep(windows["hits"], split)
            n = int(keep.sum())
            if n:
                self.collected.append(
                    {
                        **{name: windows[name][keep] for name in (*_LOOP_ARRAYS, "bar_index", "tempo")},
                        "source": np.full(n, source_file.relative),
                        "groove": np.full(n, performance.groove),
                        "style": np.full(n, performance.style or labels.style),
                        "drummer": np.full(n, labels.drummer),
                        "kind": np.full(n, performance.kind or labels.kind),
                        "split": np.full(n, split),
                    }
                )

    def _keep(self, hits: np.ndarray, split: str) -> np.ndarray:
        """Which windows have enough bar-2 hits and are new in their split (counting the others)."""
        enough = hits[:, STEPS_PER_BAR:].sum(axis=(1, 2)) >= self.min_hits_bar2
        self.skipped[TOO_FEW_HITS] += int((~enough).sum())
        keep = np.zeros(len(hits), dtype=bool)
        packed = np.packbits(hits.reshape(len(hits), LOOP_STEPS * N_PARTS), axis=1)
        for i in np.flatnonzero(enough):
            key = (split, packed[i].tobytes())
            if split in DEDUPLICATED_SPLITS and key in self.seen:
                self.skipped[DUPLICATE] += 1
            else:
                self.seen.add(key)
                keep[i] = True
        return keep


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


def _cross_split_duplicates(dataset: LoopDataset) -> dict[str, int]:
    """How many validation and test loops also occur (same binary hits) in train."""
    packed = np.packbits(dataset.hits.reshape(len(dataset), LOOP_STEPS * N_PARTS), axis=1)
    train = {row.tobytes() for row in packed[dataset.split == "train"]}
    return {
        split: int(sum(row.tobytes() in train for row in packed[dataset.split == split]))
        for split in SPLITS
        if split != "train"
    }


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


def load_dataset(path: str | Path) -> LoopDataset:
    """Read a dataset file; JakiInputError when it is missing, corrupt, of another format version or edited."""
    path = Path(path)
    rebuild = "rebuild it with: jaki dataset build"
    if not path.exists():
        raise JakiInputError(f"{path}: dataset file not found (build one with: jaki dataset build)")
    if not read_bounded(path, 4, "a dataset file (.npz)", head=True).startswith(b"PK\x03\x04"):
        raise JakiInputError(f"{path}: not a jaki dataset (not an .npz archive; {rebuild})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in (*_ARRAYS, "meta") if name not in archive.files]
            if missing:
                raise JakiInputError(f"{path}: not a jaki dataset (missing {', '.join(missing)}; {rebuild})")
            unpacked = sum(info.file_size for info in archive.zip.infolist())
            if unpacked > MAX_DATASET_BYTES:
                raise JakiInputError(
                    f"{path}: unpacks to {unpacked / 2**30:.1f} GiB, more than {MAX_DATASET_BYTES >> 30} GiB ({rebuild})"
                )
            arrays = {name: archive[name] for name in _ARRAYS}
            meta = json.loads(str(archive["meta"]))
    except JakiInputError:
        raise
    except (
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
    ) as error:
        raise JakiInputError(
            f"{path}: not a readable jaki dataset ({type(error).__name__}: {_first_line(error)}; {rebuild})"
        ) from None
    if not isinstance(meta, dict):
        raise JakiInputError(f"{path}: dataset meta is not a JSON object ({rebuild})")
    version = meta.get("format_version")
    if version != DATASET_FORMAT_VERSION:
        raise JakiInputError(
            f"{path}: dataset format version {version!r}, this jaki reads version {DATASET_FORMAT_VERSION} ({rebuild})"
        )
    expected = {
        "hits": np.bool_,
        "velocities": np.float32,
        "offsets_ms": np.float32,
        "bar_index": np.int64,
        "tempo": np.float64,
    }
    for name, dtype in expected.items():
        if arrays[name].dtype != dtype:
            raise JakiInputError(f"{path}: array {name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    for name in _TEXT_ARRAYS:
        if arrays[name].dtype.kind != "U":
            raise JakiInputError(f"{path}: array {name} is not text ({rebuild})")
    try:
        dataset = LoopDataset(**arrays, meta=meta)
    except (ValueError, TypeError) as error:  # TypeError: a 0-d array has no length
        raise JakiInputError(f"{path}: inconsistent dataset ({error}; {rebuild})") from None
    if dataset.content_hash() != meta.get("content_hash"):
        raise JakiInputError(f"{path}: content hash does not match its meta (file corrupt or edited; {rebuild})")
    problem = _value_problem(dataset)
    if problem:
        raise JakiInputError(f"{path}: {problem} ({rebuild})")
    return dataset


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
