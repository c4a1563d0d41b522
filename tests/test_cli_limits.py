"""Every option and input file has a limit a user would never hit by accident, checked before any work starts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jaki.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--groove", "funk", "--seed", "-1"],
        ["generate", "--groove", "funk", "--seed", str(10**30)],
        ["generate", "--groove", "funk", "--syncopation", "high", "--refine", "1e9"],
        ["generate", "--groove", "funk", "--syncopation", "high", "--refine", "inf"],
        ["generate", "--groove", "funk", "--closeness", "nan"],
        ["train-tuner", "--out", "agent", "--data", "d.npz", "--steps", str(10**9)],
        ["train-tuner", "--out", "agent", "--data", "d.npz", "--seed", "-1"],
        ["evaluate-tuner", "--data", "d.npz", "--refine-steps", str(10**9)],
        ["train", "--data", "d.npz", "--out", "m", "--seed", str(2**40)],
        ["train", "--data", "d.npz", "--out", "m", "--epochs", str(10**9)],
        ["dataset", "build", "x", "--out", "d.npz", "--hop", "1000"],
    ],
)
def test_options_out_of_range_are_one_line_and_instant(tmp_path, args):
    os.chdir(tmp_path)
    started = time.perf_counter()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    option = next(arg for arg in reversed(args) if arg.startswith("--"))
    assert line.startswith("error: ") and option in line, line
    assert time.perf_counter() - started < 20  # refused before loading a model or training
    assert not list(tmp_path.iterdir())


def special_inputs(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)
    return {"/dev/zero": Path("/dev/zero"), "/dev/urandom": Path("/dev/urandom"), "a FIFO": fifo}


@pytest.mark.skipif(not Path("/dev/zero").exists() or not hasattr(os, "mkfifo"), reason="needs POSIX devices")
@pytest.mark.parametrize("option", ["--seed-midi", "--seed-grid-file", "--drum-map", "analyze"])
def test_devices_and_fifos_are_refused_without_reading(tmp_path, option):
    for name, path in special_inputs(tmp_path).items():
        if option == "analyze":
            args = ["analyze", str(path)]
        elif option == "--drum-map":
            args = ["analyze", "--drum-map", str(path), str(path)]
        else:
            args = ["generate", option, str(path), "--out", str(tmp_path / "out")]
        done: list = []
        worker = threading.Thread(target=lambda a=args, d=done: d.append(runner.invoke(app, a)), daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert done, f"{name} as {option} blocked or ran away"
        [line] = done[0].stderr.splitlines()
        assert done[0].exit_code == 2 and "not a regular file" in line, line
    assert not (tmp_path / "out").exists()
