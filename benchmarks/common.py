"""Shared benchmark plumbing: peak-RSS sampler, timers, isolated child runs, sgemm peak, tables.

Every figure is printed, never asserted. Peak memory is the resident set size of the process
that ran the work, sampled by a thread every few milliseconds (psutil); a stage run through
:func:`isolated` gets a fresh spawned process, so its peak is its own.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import psutil

MIB = 1024 * 1024
#: MiniLM-L6 forward cost per token (the 11.9 M embedding-table parameters are lookups).
MFLOP_PER_TOKEN = 21.5


class StageClock:
    """Wall time per stage of a ``dvc repro``, from the ``Running stage '<name>'`` lines it prints.

    Feed it every output line (:meth:`line`, which returns the stage that line starts, if any),
    then :meth:`stop` when dvc has exited; ``seconds`` maps each stage to its time.
    """

    LINE = re.compile(r"^Running stage '([^']+)'")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self._since = time.perf_counter()

    def line(self, text: str) -> str | None:
        m = self.LINE.match(text)
        if m:
            self.stop()
            self.current, self._since = m.group(1), time.perf_counter()
            return self.current
        return None

    def stop(self) -> None:
        if self.current:
            self.seconds[self.current] = time.perf_counter() - self._since


def _hwm_bytes() -> int:
    """This process's peak RSS since the last reset (``VmHWM``), bytes; 0 when unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_hwm() -> bool:
    """Reset this process's peak RSS to its current RSS; False where the kernel does not let."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _hwm_bytes() > 0


class PeakRSS:
    """Peak RSS of this process plus its children over a block; ``peak``, ``start`` in bytes.

    This process's own peak is the kernel's high-water mark (``VmHWM``), reset at the start by
    writing 5 to ``/proc/self/clear_refs``: exact, and free while the measured code runs. Child
    processes (worker pools) are sampled by a thread every ``child_interval_s``; without the
    high-water mark (not Linux, or ``clear_refs`` not writable) this process is sampled too,
    every ``interval_s``. The former sampler read this process and listed its children every
    5 ms: its thread took CPU and the GIL from what it measured (polars' 1M-row aggregates ran
    0.85 s under it against 0.60-0.66 s without).
    """

    def __init__(self, interval_s: float = 0.005, child_interval_s: float = 0.05) -> None:
        self.proc = psutil.Process()
        self.hwm = _reset_hwm()
        self.interval_s = child_interval_s if self.hwm else interval_s
        self.start = self.proc.memory_info().rss
        self.peak = self.start
        self.children_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def children_rss(self) -> int:
        total = 0
        for child in self.proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # the child may end between listing and reading
                total += child.memory_info().rss
        return total

    def rss(self) -> int:
        """RSS of this process plus its child processes (worker pools count too)."""
        return self.proc.memory_info().rss + self.children_rss()

    def _sample(self) -> None:
        if self.hwm:
            self.children_peak = max(self.children_peak, self.children_rss())
        else:
            self.peak = max(self.peak, self.rss())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        if self.hwm:
            # own peak (exact) plus the children's sampled peak: an upper bound of the joint
            # peak, equal to it when the two peaks coincide
            self.peak = max(self.peak, _hwm_bytes() + self.children_peak)
        else:
            self.peak = max(self.peak, self.rss())

    @property
    def peak_mib(self) -> float:
        return self.peak / MIB

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / MIB


@dataclass
class Figure:
    """One measurement: ``n`` items of ``unit`` in ``seconds`` with a peak RSS."""

    stage: str
    route: str
    n: int
    seconds: float
    peak_mib: float
    growth_mib: float
    unit: str = "rows"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


def measure(
    stage: str,
    route: str,
    n: int,
    fn: Callable[[], Any],
    unit: str = "rows",
    repeat: int = 1,
    **extra: Any,
) -> tuple[Figure, Any]:
    """Run ``fn`` ``repeat`` times; best seconds, peak RSS over all runs; returns (figure, result).

    With ``repeat`` > 1 the first (cold: first use of the library's thread pools and caches)
    run's seconds are kept too, as ``extra["first_seconds"]``.
    """
    best, out, times = math.inf, None, []
    with PeakRSS() as mem:
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
            best = min(best, times[-1])
    if repeat > 1:
        extra = {"first_seconds": times[0], **extra}
    return Figure(stage, route, n, best, mem.peak_mib, mem.growth_mib, unit, dict(extra)), out


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: Any) -> None:
    try:
        queue.put(("ok", fn(*args)))
    except BaseException as exc:  # benchmark: report the failure and let the sweep go on
        queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


def isolated(fn: Callable[..., Any], *args: Any) -> Any:
    """Run module-level ``fn(*args)`` in a fresh spawned process; return its (picklable) result.

    Raises RuntimeError with the child's traceback when it failed or died (e.g. killed for memory).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    while True:
        try:
            status, value = queue.get(timeout=1.0)
            break
        except Exception:  # queue.Empty: check the child is still alive
            if not proc.is_alive():
                raise RuntimeError(
                    f"{fn.__name__}{args}: child died with code {proc.exitcode}"
                ) from None
    proc.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


def sgemm_peak(threads: int | None = None, n: int = 2048, reps: int = 5) -> float:
    """Best-of GFLOP/s of an n x n float32 numpy matmul (the machine's practical fp32 peak)."""
    if threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
            threadpool_limits = None
        if threadpool_limits is not None:
            with threadpool_limits(threads):
                return sgemm_peak(None, n, reps)
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def host_probe(rows: int = 1_000_000, loops: int = 5_000_000) -> float:
    """Seconds of a fixed mix of the pipeline's kinds of work, to tell how fast the host runs now.

    A shared 2-core host's speed moves within an hour (session 46: the same ingest 11.7 s in a
    full run and 16.7-17.7 s an hour later, CPU seconds moving as much). The mix: a Python loop
    (the per-name work of ingest's redactor), a polars group-by and join on text keys of
    ``rows`` rows on every core (the models), a float32 matmul (the embedding). Best of three:
    a timer of the host, not of a noisy moment. Run in a fresh process for a clean heap."""
    import polars as pl

    keys = pl.Series("k", [f"account_{i % 50_000:06d}" for i in range(rows)])
    df = pl.DataFrame({"k": keys, "v": np.arange(rows, dtype=np.float64)})
    a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(loops):
            total += i
        g = df.group_by("k").agg(pl.col("v").sum())
        df.join(g, on="k", how="left").select(pl.col("v_right").sum())
        for _ in range(20):
            a @ a
        best = min(best, time.perf_counter() - t0)
    return best


def loadavg() -> str:
    """The 1/5/15-minute load average, as ``uptime`` prints it."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def loglog_slope(ns: Sequence[float], secs: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) against log(n); None with fewer than 2 sizes."""
    pts = [(math.log(n), math.log(s)) for n, s in zip(ns, secs, strict=True) if n > 0 and s > 0]
    if len(set(p[0] for p in pts)) < 2:
        return None
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def nlogn_slope(n_lo: float, n_hi: float) -> float:
    """The log-log slope n log n has between two sizes (a little above 1)."""
    return 1 + math.log(math.log(n_hi) / math.log(n_lo)) / math.log(n_hi / n_lo)


def human(n: float) -> str:
    """10000 -> '10k', 1500000 -> '1.5M'."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.0f}{suffix}" if v == int(v) else f"{v:.1f}{suffix}"
    return f"{n:.0f}"


def print_table(rows: Sequence[Figure], peers: dict[tuple[str, int], Figure] | None = None) -> None:
    """One line per figure: size, seconds, rate, peak RSS, and the peer's rate and the ratio."""
    peers = peers or {}
    head = (
        f"{'stage':<26}{'route':<30}{'n':>7}{'sec':>9}{'rate/s':>12}{'peak MiB':>10}"
        f"{'+MiB':>8}   {'peer':<18}{'rate/s':>10}{'peak MiB':>10}{'ours/peer':>10}"
    )
    print(head)
    print("-" * len(head))
    for f in rows:
        line = (
            f"{f.stage:<26}{f.route:<30}{human(f.n):>7}{f.seconds:>9.2f}{f.rate:>12,.0f}"
            f"{f.peak_mib:>10,.0f}{f.growth_mib:>8,.0f}"
        )
        p = peers.get((f.stage, f.n))
        if p is not None:
            line += (
                f"   {p.route[:18]:<18}{p.rate:>10,.0f}{p.peak_mib:>10,.0f}{f.rate / p.rate:>9.1f}x"
            )
        print(line, flush=True)


def print_slopes(rows: Sequence[Figure]) -> list[dict[str, Any]]:
    """Fit the log-log slope of seconds vs n per (stage, route); flag worse than n log n."""
    out = []
    groups: dict[tuple[str, str], list[Figure]] = {}
    for f in rows:
        groups.setdefault((f.stage, f.route), []).append(f)
    print(f"{'stage':<26}{'route':<30}{'sizes':>14}{'slope':>8}{'n log n':>9}  verdict")
    for (stage, route), figs in groups.items():
        figs = sorted(figs, key=lambda f: f.n)
        if len(figs) < 2:
            continue
        slope = loglog_slope([f.n for f in figs], [f.seconds for f in figs])
        ref = nlogn_slope(figs[0].n, figs[-1].n)
        # 0.15 of slack: timings on a shared 2-core machine are noisy (±15 %).
        verdict = "WORSE than n log n" if slope is not None and slope > ref + 0.15 else "ok"
        if slope is not None and slope < 0.8:
            verdict = "ok (fixed costs dominate at small n)"
        sizes = f"{human(figs[0].n)}-{human(figs[-1].n)}"
        print(f"{stage:<26}{route:<30}{sizes:>14}{slope:>8.2f}{ref:>9.2f}  {verdict}")
        out.append(
            {
                "stage": stage,
                "route": route,
                "sizes": [f.n for f in figs],
                "slope": slope,
                "nlogn_slope": ref,
                "verdict": verdict,
            }
        )
    return out


def as_dict(f: Figure) -> dict[str, Any]:
    """A figure as JSON-ready dict (with its rate)."""
    return {**asdict(f), "rate_per_s": f.rate}
