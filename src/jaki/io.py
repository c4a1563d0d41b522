"""Safe files: every file jaki writes goes through :func:`atomic_write`, every file it reads through
:func:`read_bounded`.

A crash, a full disk or Ctrl-C half-way through a write must never leave a truncated MIDI file, dataset or
weights file under the user's chosen name, and a finished result must never silently replace one the user
already had. So the content goes to a temporary file in the same folder (same file system, so the final
``os.replace`` is atomic) and the name is claimed only once the content is complete.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from jaki.errors import JakiInputError


def atomic_write(path: Path, write: Callable[[Path], None], *, overwrite: bool = False) -> None:
    """Create ``path`` by calling ``write(tmp_path)`` on a temporary file beside it, then renaming it into place.

    Refuses (JakiInputError) when ``path`` exists and ``overwrite`` is false, or when its folder is missing or not
    writable. The temporary file is removed on any failure, including one raised by ``write``.
    """
    path = Path(path)
    check_new_file(path, overwrite=overwrite)
    sweep_stale_temps(path.parent)
    tmp_path: Path | None = None
    try:
        tmp_path = _create_temp_beside(path)
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        raise


def check_new_file(path: Path, *, overwrite: bool = False) -> None:
    """The refusals of :func:`atomic_write`, on their own: call it before long work whose result goes to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise JakiInputError(f"{path}: is a directory (expected a file name to write)")
    if path.exists() and not overwrite:
        raise JakiInputError(f"{path}: exists (use --force to overwrite)")
    folder = path.parent
    if not folder.is_dir():
        raise JakiInputError(f"{path}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise JakiInputError(f"{path}: folder {folder} is not writable")


def check_output_folder(
    folder: Path, names: Iterable[str], *, overwrite: bool = False, create_parents: bool = False
) -> None:
    """Refuse, before any work, to write the files ``names`` into ``folder``: when it is a file, when its parent is
    missing (unless ``create_parents``), or, without ``overwrite``, when it already holds one of them. Each file is
    checked again when :func:`atomic_write` writes it; checking all of them first means that a long run does not
    fail at the save, and that a folder of several files is never left half-replaced."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise JakiInputError(f"{folder}: is a file (expected a folder to write into)")
    if not create_parents and not folder.parent.is_dir():
        raise JakiInputError(f"{folder}: folder {folder.parent} does not exist (create it first)")
    existing = [name for name in names if (folder / name).exists()]
    if existing and not overwrite:
        raise JakiInputError(f"{folder / existing[0]}: exists (use --force to overwrite)")


def _create_temp_beside(path: Path) -> Path:
    """An empty, new, hidden file next to ``path``, with the permissions the user's umask gives new files.

    (``tempfile.mkstemp`` would make it owner-only, and the rename would hand that mode to the user's file.)
    """
    for _ in range(16):
        candidate = path.with_name(_temp_name(path.name))
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as error:
            raise JakiInputError(f"{path}: cannot create a file in {path.parent} ({error.strerror or error})") from None
        return candidate
    raise JakiInputError(f"{path}: cannot find a free temporary name in {path.parent}")


def read_bounded(path: Path, limit: int, what: str, *, head: bool = False) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, or a one-line error naming ``what`` the
    file should be (with ``head``: its first ``limit`` bytes, however long it is, e.g. to check a magic number). A device (``/dev/zero`` reports size 0 and never ends), a FIFO (which would block until a
    writer comes) or a directory is refused before reading; a file is read through one bounded ``read``, so a file
    that grows while it is read cannot exceed the limit either."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise JakiInputError(f"{path}: no such file (expected {what})") from None
    except OSError as error:
        raise JakiInputError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise JakiInputError(f"{path}: is a directory (expected {what})")
        if not stat.S_ISREG(mode):
            raise JakiInputError(f"{path}: not a regular file (a device, pipe or socket; expected {what})")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise JakiInputError(f"{path}: cannot read ({error.strerror or error})") from None
    finally:
        os.close(descriptor)
    if len(data) > limit and not head:
        raise JakiInputError(f"{path}: larger than {_size_text(limit)} (expected {what})")
    return data[:limit]


def _size_text(size: int) -> str:
    return f"{size // 2**20} MiB" if size >= 2**20 else f"{size // 2**10} KiB"


# Temporary names carry the writer's process id, so that a later run can tell the leftovers of a killed one
# (SIGKILL runs no cleanup) from those of a writer still at work, and remove them.
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")


def _temp_name(name: str) -> str:
    return f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def sweep_stale_temps(folder: Path) -> None:
    """Remove the temporary files and staging folders that a killed jaki process left in ``folder``."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or not ours to judge: leave its files alone
    return True


@contextmanager
def staged_folder(folder: Path, *, overwrite: bool = False, replace: bool = False) -> Iterator[Path]:
    """A hidden staging folder for a set of files that belong together (one generation's MIDI, WAV and PNG): what the
    block writes there appears in ``folder`` only once the block has finished. A new ``folder`` is the staging
    folder renamed in one step, so an interrupted run (Ctrl-C, SIGKILL) leaves the complete set or none of it;
    into an existing folder the files are renamed one by one, after all of them are written, or, with ``replace``
    (a set whose names change from run to run, like a dataset's shards), the old folder is moved aside and removed
    once the new one has taken its name. A failed block leaves nothing; the leftovers of a killed one are swept by
    the next run."""
    folder = Path(folder)
    fresh = not folder.exists()
    parent = folder.parent if fresh or replace else folder
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise JakiInputError(f"{folder}: cannot create the output folder ({error.strerror or error})") from None
    sweep_stale_temps(parent)
    staging = parent / _temp_name(folder.name if fresh else "staging")
    try:
        staging.mkdir()
        yield staging
        if fresh:
            os.rename(staging, folder)
            return
        if replace:
            if not overwrite:
                raise JakiInputError(f"{folder}: exists (use --force to overwrite)")
            aside = parent / _temp_name(folder.name)
            os.rename(folder, aside)
            os.rename(staging, folder)
            shutil.rmtree(aside, ignore_errors=True)
            return
        for item in sorted(staging.iterdir()):
            check_new_file(folder / item.name, overwrite=overwrite)
        for item in sorted(staging.iterdir()):
            os.replace(item, folder / item.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
