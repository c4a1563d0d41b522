"""Training throughput of ``jaki.train.train`` in 1 and 2 processes (torchrun, DistributedDataParallel, gloo on CPU).

    .venv/bin/python benchmarks/training.py --data gmd.npz [--train-loops 4000] [--epochs 2] [--rounds 2]

Each round trains the shipped model's shape on the same train loops (assembled as ``jaki train`` does, cut to
``--train-loops``) for ``--epochs`` epochs, once alone and once under torchrun per entry of ``--processes``, the
runs of a round back to back so that they share the machine's load. Prints one table: per process count, the median
over rounds of the loops trained per second (wall time, validation included), the gradient steps per second, the
CPU seconds all processes spent per 1,000 loops, the speed-up over one process in the same rounds, and the last
validation loss; then the load average before and after. Each process runs one torch thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def child(args: argparse.Namespace) -> None:
    """One training run, in one process or in each of torchrun's: rank 0 prints its figures as one JSON line."""
    import torch
    import torch.distributed as dist

    from jaki.conditions import CONDITIONS, ExampleConfig, Examples, training_examples
    from jaki.dataset import load_dataset
    from jaki.model import ModelConfig
    from jaki.train import TrainConfig, join_processes, leave_processes, train

    torch.set_num_threads(1)
    world = join_processes()
    dataset = load_dataset(args.data)
    examples = training_examples(dataset, "train", CONDITIONS, ExampleConfig())
    examples = Examples(*(array[: args.train_loops] for array in (examples.bar1, examples.bar2, examples.codes)))
    val = training_examples(dataset, "validation", CONDITIONS, ExampleConfig(programmed_copies=False, fill_partners=0))
    config = TrainConfig(epochs=args.epochs, patience=args.epochs, device=world.device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(
        examples.bar1,
        examples.bar2,
        val.bar1,
        val.bar2,
        ModelConfig(conditions=CONDITIONS),
        config,
        codes=examples.codes,
        val_codes=val.codes,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if world.world_size > 1:  # the CPU of every process
        total = torch.tensor([cpu], dtype=torch.float64)
        dist.all_reduce(total)
        cpu = float(total)
    leave_processes()
    if world.main:
        share = math.ceil(len(examples) / world.world_size)
        steps = len(result.history) * math.ceil(share / math.ceil(config.batch_size / world.world_size))
        figures = {
            "loops": len(examples) * len(result.history),
            "steps": steps,
            "wall": wall,
            "cpu": cpu,
            "val_loss": result.history[-1].val_loss,
        }
        print(json.dumps(figures))


def run(processes: int, args: argparse.Namespace) -> dict:
    script = [str(Path(__file__).resolve()), "--child", "--data", str(args.data)]
    script += ["--train-loops", str(args.train_loops), "--epochs", str(args.epochs)]
    launcher = [sys.executable] if processes == 1 else [sys.executable, "-m", "torch.distributed.run"]
    launcher += [] if processes == 1 else ["--nproc-per-node", str(processes)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *script], capture_output=True, text=True, check=True, env=environment)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a dataset file from 'jaki dataset build'")
    parser.add_argument("--train-loops", type=int, default=4000, help="training examples per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of runs; medians are reported")
    parser.add_argument("--processes", default="1,2", help="process counts, comma-separated (1 is always run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    counts = sorted({1, *(int(n) for n in args.processes.split(","))})
    load_before = os.getloadavg()
    results: dict[int, list[dict]] = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            results[n].append(run(n, args))
    load_after = os.getloadavg()

    def median(n: int, figure: str) -> float:
        return statistics.median(r[figure] for r in results[n])

    table = Table(title=f"jaki.train.train, {args.train_loops:,} loops × {args.epochs} epochs, shipped model shape")
    for column in ("processes", "loops/s", "steps/s", "CPU s / 1k loops", "speed-up", "last val loss"):
        table.add_column(column, justify="right")
    one = [r["loops"] / r["wall"] for r in results[1]]
    for n in counts:
        speed = [r["loops"] / r["wall"] for r in results[n]]
        ratio = statistics.median(s / base for s, base in zip(speed, one, strict=True))  # within each round
        table.add_row(
            str(n),
            f"{statistics.median(speed):,.0f}",
            f"{statistics.median(r['steps'] / r['wall'] for r in results[n]):.2f}",
            f"{1000 * median(n, 'cpu') / median(n, 'loops'):.2f}",
            f"{ratio:.2f}×",
            f"{median(n, 'val_loss'):.4f}",
        )
    table.caption = (
        f"median of {args.rounds} rounds; 1 torch thread per process; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} cores"
    )
    Console().print(table)


if __name__ == "__main__":
    main()
