"""Where the heavy loops of ``dvc repro`` run: in the stage's own process, or on a Dask cluster.

Serves stages ``embed`` (encoding of the texts missing from the cache), ``validate`` (the
bootstrap and placebo refits of the within-thread and incremental tests: one task per outcome
and model) and ``compare`` (the counterfactual re-scoring: every scenario x strength x batch of
altered accounts re-runs every model). Chosen by the ``compute`` section of params.yaml::

    compute:
      engine: local            # local | dask
      address: null            # dask: tcp://scheduler:8786; null = a LocalCluster on this machine
      n_workers: 2             # LocalCluster only
      threads_per_worker: 1    # LocalCluster only

Nothing is rewritten for the cluster: an :class:`Engine` maps the same pure, top-level task
function over the same list of items, and the stage assembles the results in item order. The
large read-only inputs every task needs (the interim tables, the encoder's recipe) are handed to
:meth:`Engine.map` as ``shared`` keywords: Dask scatters them to every worker once. So the
outputs are those of the local engine, whichever engine computes them (tested in
``tests/unit/test_compute.py``); the engine is not a dependency of any stage in dvc.yaml.

Why Dask and not Ray (docs/scaling.md, "Choosing the engine"; local mode, 2 workers x 1 torch
thread, 512 Stack Exchange texts, the same 2 busy cores): Ray 2.60 ``ray[data]`` adds 528 MB and
20 s to the install, took 41 s to start (and failed to start at all once under heavier load)
against Dask's 2 s, and its ``map_batches`` with two model-holding actors embedded in 58 s where
the Dask engine took 37 s (one process with 2 threads: 26 s). Dask is already a dependency.

A LocalCluster spawns worker processes that re-import the caller's ``__main__``: scripts that
use ``engine: dask`` without an address must start under ``if __name__ == "__main__":`` (the
``python -m analysis`` entry point does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field

from analysis.config import Frozen

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class ComputeParams(Frozen):
    """``compute``: which engine runs the dominant loops of ``embed``, ``validate`` and
    ``compare``."""

    engine: Literal["local", "dask"] = "local"
    #: Dask scheduler (``tcp://host:8786``); None with ``engine: dask`` starts a LocalCluster.
    address: str | None = None
    #: Shape of the LocalCluster (ignored with an address).
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    #: LocalCluster workers as processes (True; what a real cluster does) or threads.
    processes: bool = True


class Engine(Protocol):
    """Maps a picklable top-level function over items; results come back in item order."""

    name: str

    def map(self, fn: Callable[..., R], items: Sequence[Any], **shared: Any) -> list[R]:
        """``[fn(item, **shared) for item in items]``, wherever it runs."""
        ...


class LocalEngine:
    """The stage's own process: a plain loop."""

    name = "local"

    def map(self, fn: Callable[..., R], items: Sequence[Any], **shared: Any) -> list[R]:
        """``[fn(item, **shared) for item in items]``."""
        return [fn(item, **shared) for item in items]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no affinity call on this platform
        return os.cpu_count() or 1


def map_threads(
    engine: Engine | None, fn: Callable[..., R], items: Sequence[Any], **shared: Any
) -> list[R]:
    """``engine.map(fn, items, **shared)``; on the local engine (or None) the items run on one
    thread per available core, results in item order.

    For tasks that spend their time in code that releases the GIL (numpy, scipy's compiled
    loops) and hold little memory each: the agreement bootstrap's pairs (two threads 1.5x one
    on two cores). Not for the counterfactual re-scoring, whose every task holds an altered
    copy of the tables. Each task must be a pure function of its item and ``shared``.

    BLAS runs on one thread inside, however many threads map (and with one as well): a product
    that OpenBLAS splits between threads sums in another order, so its last bit would depend
    on the core count and on what else runs at the time. So the results do not depend on the
    number of threads (tested).
    """
    if engine is not None and not isinstance(engine, LocalEngine):
        return engine.map(fn, items, **shared)
    from threadpoolctl import threadpool_limits

    threads = min(available_cores(), len(items))
    with threadpool_limits(limits=1, user_api="blas"):
        if threads < 2:
            return LocalEngine().map(fn, items, **shared)
        with ThreadPoolExecutor(threads, thread_name_prefix="resonance-map") as pool:
            return list(pool.map(lambda item: fn(item, **shared), items))


class _Shared:
    """The shared keyword inputs of one :meth:`DaskEngine.map`, shipped as one object."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values


def _call(fn: Callable[..., R], item: Any, shared: _Shared) -> R:
    return fn(item, **shared.values)


class DaskEngine:
    """A ``dask.distributed`` client: one task per item, ``shared`` scattered to every worker."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client

    def map(self, fn: Callable[..., R], items: Sequence[Any], **shared: Any) -> list[R]:
        """Submit one task per item and gather the results in item order."""
        if not items:
            return []
        # One object for all shared inputs: Dask would scatter a dict's values one by one under
        # their keys (two dicts with a key in common would collide). broadcast: every worker
        # gets one copy up front instead of fetching it per task.
        box = self.client.scatter(_Shared(shared), broadcast=True, hash=False)
        futures = [self.client.submit(_call, fn, item, box, pure=False) for item in items]
        return self.client.gather(futures)


#: Dask's setting of the environment its nanny gives each worker process it spawns.
NANNY_ENV = "distributed.nanny.pre-spawn-environ"


def worker_environ() -> dict[str, Any]:
    """Dask's worker environment without ``MALLOC_TRIM_THRESHOLD_``.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker (to hand freed memory back to
    the system sooner). Setting it at all switches off glibc's adaptive mmap threshold, so
    every array above 128 KiB is mapped and zero-filled afresh and freed straight back: a
    validate fit on a worker took 167 ms instead of 51 ms, with 10x the page faults
    (docs/scaling-log.md, "Validate and compare at 1M"). The thread-count settings are kept.
    Workers started by hand (``dask worker``) read their own Dask config: set
    ``distributed.nanny.pre-spawn-environ`` there the same way.
    """
    import dask

    env = dask.config.get(NANNY_ENV, default={}) or {}
    return {k: v for k, v in env.items() if k != "MALLOC_TRIM_THRESHOLD_"}


@contextmanager
def open_engine(params: ComputeParams | None = None) -> Iterator[Engine]:
    """The engine ``params`` name, closed (with any LocalCluster it started) on exit.

    Raises:
        ImportError: ``engine: dask`` without ``dask[distributed]`` installed.
    """
    p = params or ComputeParams()
    if p.engine == "local":
        yield LocalEngine()
        return
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if p.address:
        log.info("compute: Dask scheduler at %s", p.address)
        client = Client(p.address)
    else:
        with dask.config.set({NANNY_ENV: worker_environ()}):
            cluster = LocalCluster(
                n_workers=p.n_workers,
                threads_per_worker=p.threads_per_worker,
                processes=p.processes,
                dashboard_address=None,
            )
        client = Client(cluster)
        log.info(
            "compute: Dask LocalCluster, %d workers x %d threads (%s)",
            p.n_workers,
            p.threads_per_worker,
            "processes" if p.processes else "threads",
        )
    try:
        yield DaskEngine(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` cut into consecutive lists of at most ``size``."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
