"""Start-up cost of the commands a new user types first, against a bare ``python -c pass``, side by side in one run.

    .venv/bin/python benchmarks/startup.py [--rounds 7]

Each round starts every command once as a fresh process, in turn (so that load from other processes on a shared
machine falls on all of them alike); a command's figure is its median over the rounds of the CPU seconds (user +
system) the operating system accounts to the finished child, and of its wall seconds. ``ratio`` is the command's
median CPU over the median CPU of ``python -c pass`` (the interpreter's own start). Targets (issue 15): ``jaki
--help`` and ``jaki grooves`` under 0.3 s of CPU, ``jaki analyze`` under 1 s; ``jaki generate`` is shown end to end
(process start to files written) for comparison with earlier runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jaki.grooves import get_groove
from jaki.midi import write_drum_midi
from jaki.pattern import Pattern

TARGET_CPU_S = {"jaki --help": 0.3, "jaki grooves": 0.3, "jaki analyze": 1.0}


def commands(folder: Path) -> dict[str, list[str]]:
    """Label → argv. The analysed file is a built-in groove written as four bars of MIDI."""
    midi = folder / "funk.mid"
    groove = get_groove("funk")
    write_drum_midi(Pattern.concat([groove.pattern] * 4), midi, tempo_bpm=groove.tempo_bpm)
    jaki = str(Path(sys.executable).with_name("jaki"))
    generate = ["generate", "--groove", "funk", "--syncopation", "high", "--seed", "7", "--force"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "jaki --help": [jaki, "--help"],
        "jaki grooves": [jaki, "grooves"],
        "jaki analyze": [jaki, "analyze", str(midi)],
        "jaki generate": [jaki, *generate, "--out", str(folder / "out")],
    }


def run_once(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``argv`` to its exit; a failing command stops the benchmark."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"error: {' '.join(argv)} exited {process.returncode}: {process.stderr.read().decode()[:300]}")
    process.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        argvs = commands(Path(folder))
        for argv in argvs.values():  # warm-up: file cache, .pyc files
            run_once(argv)
        cpu: dict[str, list[float]] = {label: [] for label in argvs}
        wall: dict[str, list[float]] = {label: [] for label in argvs}
        for _ in range(rounds):
            for label, argv in argvs.items():
                seconds, elapsed = run_once(argv)
                cpu[label].append(seconds)
                wall[label].append(elapsed)
    baseline = statistics.median(cpu["python -c pass"])
    table = Table(title=f"Start-up: median of {rounds} rounds, each command once per round, in turn")
    for column in ("command", "CPU s", "wall s", "ratio to python -c pass", "target CPU s", "met"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for label in argvs:
        median = statistics.median(cpu[label])
        target = TARGET_CPU_S.get(label)
        table.add_row(
            label,
            f"{median:.3f}",
            f"{statistics.median(wall[label]):.3f}",
            f"{median / baseline:.1f}×",
            "" if target is None else f"< {target:g}",
            "" if target is None else ("yes" if median < target else "NO"),
        )
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    main(parser.parse_args().rounds)
