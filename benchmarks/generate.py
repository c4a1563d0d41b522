"""How long `jaki generate` takes: end to end (process start to files written) and inside the library.

    .venv/bin/python benchmarks/generate.py [--runs 5]

Prints one table: wall time of the whole command (median of --runs, each a fresh process), and, in one process
with the models loaded, the median time of one forward pass of the continuation model (scoring one bar 2), one
continuation (greedy decoding, 16 steps), one tuned pattern with the shipped agent and one with greedy
hill-climbing, side by side, with their ratio to the forward pass.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from jaki.generate import seed_from_groove
from jaki.grooves import groove_library
from jaki.pattern import Pattern
from jaki.tuner import Targets, load_agent, tune
from jaki.weights import load_model

COMMAND = ["generate", "--groove", "funk", "--syncopation", "high", "--repetition", "low", "--seed", "7"]


def end_to_end_seconds(runs: int) -> list[float]:
    jaki = Path(sys.executable).with_name("jaki")
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            started = time.perf_counter()
            subprocess.run([str(jaki), *COMMAND, "--out", f"{folder}/{run}"], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return times


def library_seconds(repeats: int) -> dict[str, float]:
    torch.set_num_threads(1)
    loaded, agent = load_model(), load_agent()
    seeds = [groove.pattern for groove in groove_library().values()]
    targets = Targets(syncopation="high", repetition="low")
    timings: dict[str, list[float]] = {
        "one forward pass (log p of one bar 2)": [],
        "continuation (greedy decode, 16 steps)": [],
        "tune: agent": [],
        "tune: greedy": [],
    }
    for index in range(repeats):
        seed = seeds[index % len(seeds)]
        bar1 = torch.as_tensor(seed.categories()[None])
        started = time.perf_counter()
        continuation = loaded.model.generate(bar1, greedy=True)
        timings["continuation (greedy decode, 16 steps)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        loaded.model.log_likelihood(bar1, continuation)
        timings["one forward pass (log p of one bar 2)"].append(time.perf_counter() - started)
        bar2 = Pattern.from_categories(continuation[0].numpy())
        for method in ("agent", "greedy"):
            started = time.perf_counter()
            tune(seed, bar2, targets, model=loaded.model, bands=loaded.bands, agent=agent, method=method)
            timings[f"tune: {method}"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes for the end-to-end time")
    parser.add_argument("--repeats", type=int, default=46, help="patterns for the in-library times")
    args = parser.parse_args()
    seed_from_groove("funk")  # fail early if the package is broken
    library = library_seconds(args.repeats)
    command = end_to_end_seconds(args.runs)
    forward = library["one forward pass (log p of one bar 2)"]
    print(f"{'what':<44} {'median':>10} {'× forward pass':>15}")
    print("-" * 71)
    print(f"{'jaki ' + ' '.join(COMMAND[:3]) + ' … (whole process)':<44} {statistics.median(command):>9.3f}s {'':>15}")
    for name, seconds in library.items():
        print(f"{name:<44} {1000 * seconds:>8.2f}ms {seconds / forward:>14.1f}×")
    print(
        f"\nend to end: {args.runs} fresh processes (min {min(command):.3f}s, max {max(command):.3f}s); "
        f"library: median of {args.repeats} patterns, one thread"
    )


if __name__ == "__main__":
    main()
