"""How long `jaki generate` takes: end to end (process start to files written) and inside the library.

    .venv/bin/python benchmarks/generate.py [--runs 5]

Prints one table: wall time of the whole command (median of --runs, each a fresh process), and, in one process
with the models loaded, the median time of one forward pass of the continuation model (scoring one bar 2), one
continuation (greedy decoding, 16 steps), one tuned pattern with the shipped agent and one with greedy
hill-climbing, side by side, with their ratio to the forward pass. Then a second table: patterns per second of the
whole job (continue, tune with the shipped agent, play with the groove model) for ``--batch`` seeds (the built-in
grooves, cycled) in one ``generate_batch`` call and for one ``generate`` call per seed, by CPU time and wall time,
measured side by side in one process.
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

import torch

from jaki.generate import generate, generate_batch, seed_from_groove
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


def batch_patterns_per_second(count: int, one_by_one: int) -> dict[str, tuple[float, float]]:
    """Patterns/s (by CPU time, by wall time) of the whole job: ``count`` seeds in one batched call, and the first
    ``one_by_one`` of them in one call each."""
    torch.set_num_threads(1)
    loaded = load_model()
    grooves = sorted(groove_library())
    seeds = [seed_from_groove(grooves[index % len(grooves)]) for index in range(count)]
    requests = {"syncopation": "high", "repetition": "low"}
    generate(seeds[0], requests, model=loaded)  # load the agent and the groove model once, outside the timings
    figures = {}
    for name, run, n in (
        (f"generate_batch: {count} seeds in one call", lambda: generate_batch(seeds, requests, model=loaded), count),
        (
            f"generate: {one_by_one} seeds, one call each",
            lambda: [generate(s, requests, model=loaded) for s in seeds[:one_by_one]],
            one_by_one,
        ),
    ):
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        figures[name] = (n / (time.process_time() - cpu), n / (time.perf_counter() - wall))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes for the end-to-end time")
    parser.add_argument("--repeats", type=int, default=46, help="patterns for the in-library times")
    parser.add_argument("--batch", type=int, default=1024, help="seeds of the batched call")
    parser.add_argument("--one-by-one", type=int, default=32, help="seeds generated one call each")
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
    batched = batch_patterns_per_second(args.batch, args.one_by_one)
    print(f"\n{'whole job (continue, tune, feel)':<44} {'patterns/s CPU':>15} {'patterns/s wall':>16}")
    print("-" * 77)
    for name, (cpu, wall) in batched.items():
        print(f"{name:<44} {cpu:>15.1f} {wall:>16.1f}")
    (batch_cpu, batch_wall), (one_cpu, one_wall) = batched.values()
    print(f"{'batched / one by one':<44} {batch_cpu / one_cpu:>14.1f}× {batch_wall / one_wall:>15.1f}×")
    print(f"(one thread; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
