"""Where a dataset build's tasks run: a pool of processes on this machine, or a Dask cluster.

Each backend is a :data:`jaki.dataset.Runner`: it runs :func:`jaki.dataset.shard_bytes` on the tasks it is given,
in a pool or cluster that lives as long as the run, and yields each task with its result as it finishes, in any
order (:func:`jaki.dataset.write_dataset` puts the shards back in build order). The engines are the standard
library's ``concurrent.futures`` and Dask's ``distributed``, nothing home-made; Dask is an optional extra
(``pip install 'jaki[dask]'``), imported only when its backend is chosen. Workers read the source files by path
and send back the compressed shard, so a cluster's workers need the sources at the same paths (a shared file
system), not the output folder. The pool's workers are spawned (fresh interpreters): a script that builds with
more than one of them must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from functools import partial

from jaki.dataset import Runner, ShardTask, run_in_process, shard_bytes
from jaki.errors import JakiInputError

BACKENDS: tuple[str, ...] = ("process", "dask")
DASK_EXTRA_HINT = "pip install 'jaki[dask]'"


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else all of them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def runner(backend: str, workers: int, scheduler: str | None = None) -> Runner:
    """The runner of ``backend``: ``process`` with ``workers`` processes (1: in this process), or ``dask`` on the
    cluster whose scheduler is at ``scheduler``, else on a local cluster of ``workers`` processes. Options are
    checked now; a pool or cluster starts only when there are tasks to run, and stops when they are done (or
    the build is interrupted)."""
    if backend not in BACKENDS:
        raise JakiInputError(f"--backend {backend}: unknown (expected one of {', '.join(BACKENDS)})")
    if scheduler is not None and backend != "dask":
        raise JakiInputError("--scheduler goes with --backend dask")
    if workers < 1:
        raise JakiInputError(f"--workers {workers}: must be at least 1")
    if backend == "dask":
        try:
            import distributed  # noqa: F401  (imported here to fail early; used by _run_on_dask)
        except ImportError:
            raise JakiInputError(f"--backend dask needs Dask, an optional extra: {DASK_EXTRA_HINT}") from None
        return partial(_run_on_dask, workers=workers, scheduler=scheduler)
    return run_in_process if workers == 1 else partial(_run_in_pool, workers=workers)


def _ignore_interrupt() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the build and keeps the finished shards); a worker
    finishes its task and exits with the pool, without a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_pool(tasks: Sequence[ShardTask], *, workers: int) -> Iterator[tuple[ShardTask, bytes]]:
    if len(tasks) == 1:  # nothing to share out: no pool to start
        yield from run_in_process(tasks)
        return
    # spawn: a fresh interpreter per worker, safe beside the threads of the parent (rich's progress display).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context, initializer=_ignore_interrupt) as pool:
        futures = {pool.submit(shard_bytes, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                yield futures.pop(future), future.result()
        finally:
            for future in futures:
                future.cancel()


def _run_on_dask(
    tasks: Sequence[ShardTask], *, workers: int, scheduler: str | None
) -> Iterator[tuple[ShardTask, bytes]]:
    from distributed import Client, LocalCluster, as_completed

    with ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=min(workers, len(tasks)), threads_per_worker=1, processes=True, dashboard_address=None
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=30))
            except (OSError, ValueError, TimeoutError) as error:
                raise JakiInputError(f"--scheduler {scheduler}: cannot connect ({_one_line(error)})") from None
        futures = client.map(shard_bytes, list(tasks), pure=False)
        by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            yield by_key.pop(future.key), future.result()
            future.release()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
