import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jaki.errors import JakiInputError
from jaki.io import atomic_write, check_new_file, check_output_folder, staged_folder, sweep_stale_temps


def write_text(text: str):
    def write(tmp: Path) -> None:
        tmp.write_text(text)

    return write


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_content_under_the_final_name_only(tmp_path):
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp != tmp_path / "out.txt"
        assert not (tmp_path / "out.txt").exists()
        tmp.write_text("done")

    atomic_write(tmp_path / "out.txt", write)
    assert (tmp_path / "out.txt").read_text() == "done"
    assert not seen[0].exists()
    assert leftovers(tmp_path) == []


def test_refuses_to_overwrite_unless_asked(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(JakiInputError, match=r"out.txt: exists \(use --force to overwrite\)"):
        atomic_write(target, write_text("new"))
    assert target.read_text() == "old"
    atomic_write(target, write_text("new"), overwrite=True)
    assert target.read_text() == "new"


def test_a_failing_writer_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail, overwrite=True)
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_missing_folder_and_directory_targets_are_input_errors(tmp_path):
    with pytest.raises(JakiInputError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "out.txt", write_text("x"))
    with pytest.raises(JakiInputError, match="is a directory"):
        atomic_write(tmp_path, write_text("x"), overwrite=True)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_read_only_folder_is_an_input_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(JakiInputError, match="not writable"):
            atomic_write(folder / "out.txt", write_text("x"))
    finally:
        folder.chmod(stat.S_IRWXU)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_new_file_gets_the_umask_mode_not_owner_only(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.txt", write_text("x"))
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_check_output_folder_refuses_before_any_file_is_written(tmp_path):
    names = ("weights.bin", "config.json")
    check_output_folder(tmp_path / "new", names)  # a new folder under an existing one: fine
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(JakiInputError, match=r"model/config.json: exists \(use --force to overwrite\)"):
        check_output_folder(tmp_path / "model", names)
    check_output_folder(tmp_path / "model", names, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(JakiInputError, match="file: is a file"):
        check_output_folder(tmp_path / "file", names, overwrite=True)
    with pytest.raises(JakiInputError, match="does not exist"):
        check_output_folder(tmp_path / "missing" / "model", names)
    check_output_folder(tmp_path / "missing" / "model", names, create_parents=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model"]  # checking creates nothing


def test_check_new_file_gives_atomic_writes_refusals_up_front(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    with pytest.raises(JakiInputError, match=r"out.txt: exists \(use --force to overwrite\)"):
        check_new_file(tmp_path / "out.txt")
    check_new_file(tmp_path / "out.txt", overwrite=True)
    with pytest.raises(JakiInputError, match="is a directory"):
        check_new_file(tmp_path)
    with pytest.raises(JakiInputError, match="does not exist"):
        check_new_file(tmp_path / "missing" / "out.txt")


# --- staged_folder and stale temporary files (interrupted runs) ------------------------------------------------
def test_a_staged_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_folder(out) as staging:
        (staging / "a.mid").write_bytes(b"a")
        raise RuntimeError("failed half-way")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with staged_folder(out) as staging:
        (staging / "a.mid").write_bytes(b"a")
        (staging / "b.mid").write_bytes(b"b")
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == ["a.mid", "b.mid"] and list(tmp_path.iterdir()) == [out]


def test_a_staged_set_moves_into_an_existing_folder_only_when_complete(tmp_path: Path) -> None:
    (tmp_path / "a.mid").write_bytes(b"old")
    with pytest.raises(JakiInputError, match="exists"), staged_folder(tmp_path) as staging:
        (staging / "a.mid").write_bytes(b"new")
    assert (tmp_path / "a.mid").read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.mid"]
    with staged_folder(tmp_path, overwrite=True) as staging:
        (staging / "a.mid").write_bytes(b"new")
    assert (tmp_path / "a.mid").read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["a.mid"]


KILLED_WRITER = """
import sys, time
from pathlib import Path
from jaki.io import atomic_write, staged_folder
out = Path(sys.argv[1])
with staged_folder(out / "set") as staging:
    (staging / "seed.mid").write_bytes(b"half")
    atomic_write(out / "single.mid", lambda tmp: (print("ready", flush=True), time.sleep(60)))
"""


def test_a_killed_run_leaves_nothing_a_rerun_trips_on(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup: the killed writer's staging folder and temp file stay, hidden, until the next run
    into that folder sweeps them (their process id is gone); the outputs themselves never appear half-written."""
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    writer.kill()
    writer.wait()
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert len(leftovers) == 2 and all(name.startswith(".") and name.endswith(".tmp") for name in leftovers)
    with staged_folder(tmp_path / "set") as staging:
        (staging / "seed.mid").write_bytes(b"whole")
    atomic_write(tmp_path / "single.mid", lambda tmp: tmp.write_bytes(b"whole"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set", "single.mid"]
    assert (tmp_path / "set" / "seed.mid").read_bytes() == b"whole"


def test_a_live_writers_temporary_files_are_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / f".x.mid.{os.getpid()}-0123abcd.tmp"
    mine.write_bytes(b"")
    sweep_stale_temps(tmp_path)
    assert mine.exists()
