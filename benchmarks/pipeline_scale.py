"""The whole pipeline (`dvc repro`, ingest to report) on synthetic canonical dumps of N posts.

For each size: a synthetic canonical dump (``benchmarks.synthetic``, outside the project), a
fresh copy of the project (``tests.project.copy_project``) with ``source`` pointed at it and the
embedding on the static route (``embed.static_above_posts: 0``; MiniLM would take ~20 h per 10 M
posts here), a cold embedding cache, then ``dvc repro``. Per stage (DVC runs each as
``python -m analysis <stage>``): wall seconds from DVC's ``Running stage`` lines, and the peak
RSS of the stage's processes (psutil, the process tree under ``dvc`` sampled every 0.1 s;
DVC's own process is reported apart). Then the log-log slope of seconds against N per stage.

``--incremental`` adds 1 % new posts (new threads, later in time) to the largest dump and runs
``dvc repro`` again: the re-run's seconds per stage as a share of the full run's. With
``--freeze topic_fit,validate,compare,topic_eval`` those stages are frozen first (``dvc
freeze``: the topics refitted and the method's evaluation, the topics' check against answer
tags among it, re-run on a schedule, not on every new post; the report then says how old they
are). ``--repeats N`` adds 1 % and re-runs N times in a row
(each time 1 % of the posts then in the dump) and prints each re-run's share and their median:
the machine's speed moves within a day, and the re-run right after a full run is the slowest.
A fixed probe of the host (``benchmarks.common.host_probe``, ~2 s) runs before and after the
full run and before each re-run, and each share is also printed at the host's speed of its
re-run (session 46: the same ingest took 11.7 s in a full run and ~17 s an hour later).
``--until STAGE`` runs that stage and the stages it depends on only (``dvc repro STAGE``; e.g.
``--until score``: ingest, embed, topic_fit, topics and every model's scores), for sizes whose validate and
compare would take hours. Each stage's figures are printed as it ends.

The static model is distilled once into the project's ``embed.model_cache_dir`` before the first run
(not timed). Figures only; nothing gates on time.

    .venv/bin/python -m benchmarks.pipeline_scale --sizes 10k,30k,100k,300k --incremental
    make bench-scale
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

from benchmarks.common import (  # noqa: E402
    StageClock,
    host_probe,
    human,
    isolated,
    loadavg,
    loglog_slope,
    nlogn_slope,
)

KEY = "pipeline-scale-benchmark-key-0123456789"


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 10**3, "m": 10**6}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * mult)


# --------------------------------------------------------------------------- data


def write_dump(folder: Path, n: int) -> float:
    """A synthetic canonical dump of ``n`` posts in ``folder``; returns its posts' in-memory MiB
    (polars ``estimated_size`` of the raw posts table: what an eager stage would hold)."""
    import polars as pl

    from benchmarks.synthetic import write_synthetic_dump

    write_synthetic_dump(folder, n, chunk_rows=1_000_000)
    return pl.scan_parquet(folder / "posts.parquet").collect().estimated_size() / 2**20


def add_new_posts(folder: Path, share: float = 0.01) -> int:
    """Append ``share`` x as many new posts (new threads, after the last post) to the dump."""
    import polars as pl

    from benchmarks.synthetic import synthetic_posts

    posts = pl.read_parquet(folder / "posts.parquet")
    n_accounts = pl.read_parquet(folder / "accounts.parquet", columns=["account_id"]).height
    m = max(1, int(posts.height * share))
    last = posts["created_at"].max()
    new = synthetic_posts(
        m,
        seed=10_007,
        offset=posts.height + 10**9,  # ids never seen in the dump
        n_accounts=n_accounts,
        span_days=7.0,
        start=last + timedelta(hours=1),  # type: ignore[operator]
    )
    pl.concat([posts, new]).write_parquet(folder / "posts.parquet", compression="zstd")
    return m


# --------------------------------------------------------------------------- measurement


class TreeRSS:
    """Sample the RSS of every process under ``root_pid`` (``root`` itself apart) and file each
    sample's sum under the stage that is running (``self.stage``).

    Also the CPU seconds (user + system) of each process under the root, filed under the stage
    running when the process was first seen: the last sample of each process counts, so a
    process loses at most ``interval_s`` of CPU and one that lives less than that is missed.
    On a shared machine CPU seconds are the steadier figure; wall seconds swing with the load.
    """

    def __init__(self, root_pid: int, interval_s: float = 0.1) -> None:
        self.root_pid, self.interval = root_pid, interval_s
        self.stage: str | None = None
        self.peaks: dict[str, float] = {}
        self.root_peak = 0.0
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (stage, CPU seconds so far)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                self.root_peak = max(self.root_peak, root.memory_info().rss / 2**20)
                kids = root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total = 0.0
            for proc in kids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss / 2**20
                    t = proc.cpu_times()
                    first = self._cpu.get(proc.pid, (self.stage or "", 0.0))[0]
                    self._cpu[proc.pid] = (first, t.user + t.system)
            if self.stage is not None:
                self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), total)
            self._stop.wait(self.interval)

    @property
    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) per stage, summed over its processes."""
        out: dict[str, float] = {}
        for stage, secs in self._cpu.values():
            if stage:
                out[stage] = out.get(stage, 0.0) + secs
        return out


def stage_line(stage: str, clock: StageClock, mem: TreeRSS) -> str:
    """One finished stage's figures, printed as it ends: a run stopped midway keeps them."""
    return (
        f"  {stage}: {clock.seconds.get(stage, float('nan')):.1f} s wall, "
        f"{mem.cpu_seconds.get(stage, 0.0):.1f} CPU-s, peak {mem.peaks.get(stage, 0.0):,.0f} MiB "
        f"(load average {loadavg()})"
    )


def follow(
    proc: subprocess.Popen[str],
    out: Any,
    clock: StageClock,
    mem: TreeRSS,
    say: Any = print,
) -> int:
    """Copy ``proc``'s output to ``out``, file memory under the stage running, and ``say`` each
    stage's figures as it ends; returns the exit code."""
    assert proc.stdout is not None
    for line in proc.stdout:
        out.write(line)
        out.flush()
        done = clock.current
        stage = clock.line(line)
        if stage:
            if done:
                say(stage_line(done, clock, mem))
            mem.stage = stage
    rc = proc.wait()
    clock.stop()
    if clock.current:
        say(stage_line(clock.current, clock, mem))
    return rc


def repro(project: Path, log: Path, until: str | None = None) -> dict[str, Any]:
    """``dvc repro`` in ``project`` (``until``: that stage and those it depends on only): rc,
    total seconds, seconds and peak RSS (MiB) per stage."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PATH": path,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RESONANCE_KEY": KEY,
        "PYTHONPATH": str(project / "src"),
    }
    started = time.perf_counter()
    clock = StageClock()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["dvc", "repro", *([until] if until else [])],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with TreeRSS(proc.pid) as mem:
            rc = follow(proc, out, clock, mem)
    return {
        "rc": rc,
        "seconds": time.perf_counter() - started,
        "stages": clock.seconds,
        "peak_mib": mem.peaks,
        "cpu_seconds": mem.cpu_seconds,
        "dvc_peak_mib": mem.root_peak,
    }


def setup_project(
    project: Path, dump: Path, model_cache: Path, overrides: dict[str, Any] | None = None
) -> None:
    """A fresh project copy reading ``dump``, embedding on the static route, cold caches;
    ``overrides`` sets params by dotted name (``{"ingest.engine": "streaming"}``)."""
    from tests.project import copy_project

    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    copy_project(project)
    # the bytecode a user's first run leaves beside the sources (.dvcignore skips it): where
    # PYTHONDONTWRITEBYTECODE is set (as on the reference machine) every stage's process would
    # otherwise compile the package again (0.2-0.3 s each; 7 stages in a +1 % re-run)
    compileall.compile_dir(project / "src", quiet=1)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["source"].update(
        {"format": "canonical", "path": str(dump), "name": "synthetic", "truth_path": None}
    )
    params["source"]["extra"] = []
    params["privacy"]["key_source"] = "secret"  # RESONANCE_KEY; the demo key is for the demo
    params["embed"]["static_above_posts"] = 0  # every size on the static route
    # compare in batches of 5 % of the participants, as every figure before session 38: the
    # default re-scores each altered account alone (unbiased, ~33x the re-scorings at scale,
    # ~2.9 h of compare at 1M: docs/scaling.md), which this benchmark of the pipeline's growth
    # does not wait for
    params["compare"].setdefault("counterfactual", {})["batch_share"] = 0.05
    params["embed"]["model_cache_dir"] = str(model_cache)
    params["embed"]["cache_dir"] = str(project / "embedding-cache")
    for name, value in (overrides or {}).items():
        *path, last = name.split(".")
        section = params
        for part in path:
            section = section.get(part) if isinstance(section, dict) else None
        if not isinstance(section, dict) or last not in section:
            raise SystemExit(f"--set {name}: no such parameter in params.yaml")
        section[last] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


# --------------------------------------------------------------------------- report


def group(stage: str) -> str:
    """``name@item`` -> ``name`` (one row for the items of a foreach stage)."""
    return stage.split("@", 1)[0]


def grouped(run: dict[str, Any], key: str = "stages") -> dict[str, tuple[float, float]]:
    """Seconds (summed; wall, or CPU with ``key="cpu_seconds"``) and peak MiB (max) per group."""
    out: dict[str, tuple[float, float]] = {}
    for stage, secs in run[key].items():
        s, m = out.get(group(stage), (0.0, 0.0))
        out[group(stage)] = (s + secs, max(m, run["peak_mib"].get(stage, 0.0)))
    return out


def table(runs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Print seconds and peak RSS per stage and size, and the log-log slope per stage; then the
    same for CPU seconds."""
    sizes = sorted(runs)
    slopes = _table(runs, sizes, "stages", "wall seconds / peak MiB")
    if all("cpu_seconds" in runs[n] for n in sizes):
        cpu = {
            c["stage"]: c
            for c in _table(runs, sizes, "cpu_seconds", "CPU seconds, user + system / peak MiB")
        }
        for row in slopes:
            c = cpu.get(row["stage"], {})
            row.update(cpu_seconds=c.get("seconds"), cpu_slope=c.get("slope"))
    totals = [runs[n]["seconds"] for n in sizes]
    cells = "".join(
        f"{t:>10.1f} /{runs[n]['dvc_peak_mib']:>6.0f}" for n, t in zip(sizes, totals, strict=True)
    )
    print(f"{'total (dvc)':<12}{cells}{loglog_slope(sizes, totals) or 0:>8.2f}")
    print(
        "data in memory (raw posts, MiB): "
        + ", ".join(f"{human(n)} {runs[n]['data_mib']:.0f}" for n in sizes)
    )
    return slopes


def _table(runs: dict[int, dict[str, Any]], sizes: list[int], key: str, what: str) -> list:
    per = {n: grouped(runs[n], key) for n in sizes}
    stages = list(dict.fromkeys(s for n in sizes for s in per[n]))
    head = "".join(f"{human(n):>18}" for n in sizes)
    print(f"\n{'stage':<12}{head}{'slope':>8}{'n log n':>9}  ({what})")
    slopes = []
    for stage in stages:
        cells, ns, secs = "", [], []
        for n in sizes:
            s, m = per[n].get(stage, (float("nan"), float("nan")))
            cells += f"{s:>10.1f} /{m:>6.0f}"
            if stage in per[n]:
                ns.append(n)
                secs.append(s)
        slope = loglog_slope(ns, secs) if len(ns) > 1 else None
        ref = nlogn_slope(ns[0], ns[-1]) if len(ns) > 1 else float("nan")
        flag = "  SUPERLINEAR" if slope is not None and slope > ref + 0.15 else ""
        sl = f"{slope:>8.2f}" if slope is not None else f"{'-':>8}"
        print(f"{stage:<12}{cells}{sl}{ref:>9.2f}{flag}")
        slopes.append({"stage": stage, "sizes": ns, "seconds": secs, "slope": slope})
    return slopes


def ep_cache_dir() -> str:
    """The project's own folder of derived models (git-ignored): distilled once, shared."""
    from analysis.embed import EmbedParams

    return EmbedParams().model_cache_dir


def probe_seconds() -> float:
    """:func:`benchmarks.common.host_probe` in a fresh process."""
    return float(isolated(host_probe))


def host_adjusted(rerun_s: float, full_s: float, probe_full: float, probe_now: float) -> float:
    """A re-run's share (%) of the full run as the full run would have taken at the host's
    speed of the re-run: ``full_s`` scaled by ``probe_now / probe_full`` (the probe's seconds
    then and now; a host twice as slow now doubles what the full run would take)."""
    return 100 * rerun_s / (full_s * probe_now / probe_full)


def repeat_summary(
    repeats: list[dict[str, Any]], full_seconds: float, probe_full: float | None = None
) -> str:
    """One line per +1 % re-run (seconds and share of the full run; with the host probe, also
    the share at the re-run's host speed), then their median."""
    shares = [100 * r["seconds"] / full_seconds for r in repeats]
    lines = []
    for i, (r, share) in enumerate(zip(repeats, shares, strict=True)):
        line = f"  re-run {i + 1}: +{r['n_new']} posts, {r['seconds']:.1f} s = {share:.2f} %"
        if probe_full and r.get("probe_s"):
            adj = host_adjusted(r["seconds"], full_seconds, probe_full, r["probe_s"])
            line += f" ({adj:.2f} % at the host's speed then: probe {r['probe_s']:.2f} s)"
        lines.append(line)
    median = statistics.median(r["seconds"] for r in repeats)
    lines.append(
        f"  median of {len(repeats)} re-runs: {median:.1f} s = {100 * median / full_seconds:.2f} % "
        f"(range {min(shares):.2f}-{max(shares):.2f} %)"
    )
    if probe_full and all(r.get("probe_s") for r in repeats):
        adj = [host_adjusted(r["seconds"], full_seconds, probe_full, r["probe_s"]) for r in repeats]
        lines.append(
            f"  at the host's speed of each re-run (probe {probe_full:.2f} s over the full run): "
            f"median {statistics.median(adj):.2f} % (range {min(adj):.2f}-{max(adj):.2f} %)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,30k,100k,300k")
    ap.add_argument("--incremental", action="store_true", help="+1 %% posts on the largest size")
    ap.add_argument("--keep", type=Path, help="keep the dumps and project copies here")
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter of the project copies (YAML value), e.g. ingest.engine=streaming",
    )
    ap.add_argument(
        "--freeze",
        default="",
        metavar="STAGES",
        help="--incremental: freeze these stages (comma-separated) before the re-run",
    )
    ap.add_argument(
        "--until", help="run only this stage and those it depends on (e.g. score: ingest to scores)"
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="N",
        help="--incremental: add 1 %% and re-run N times in a row; print each share and the median",
    )
    a = ap.parse_args(argv)
    sizes = [parse_size(s) for s in a.sizes.split(",")]
    overrides = {k: yaml.safe_load(v) for k, _, v in (x.partition("=") for x in a.set)}
    work = a.keep or Path(tempfile.mkdtemp(prefix="resonance-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    model_cache = ROOT / ep_cache_dir()
    from analysis import embed_static
    from analysis.embed import EmbedParams

    ep = EmbedParams()
    embed_static.build_static(ep.model, ep.revision, model_cache, ep.threads)  # once, untimed
    print(f"load average {loadavg()}; work folder {work}", flush=True)
    runs: dict[int, dict[str, Any]] = {}
    failed = 0
    try:
        for n in sizes:
            dump, project = work / f"dump-{n}", work / f"project-{n}"
            t0 = time.perf_counter()
            data_mib = write_dump(dump, n)
            print(f"{human(n)}: dump written in {time.perf_counter() - t0:.1f} s", flush=True)
            setup_project(project, dump, model_cache, overrides)
            last = n == max(sizes) and a.incremental
            before = probe_seconds() if last else None
            run = repro(project, work / f"repro-{n}.log", a.until)
            if before is not None:
                # the full run spans the two probes: the host's speed over it, their mean
                run["probe_s"] = (before + probe_seconds()) / 2
                print(f"host probe over the full run: {run['probe_s']:.2f} s", flush=True)
            run["data_mib"] = data_mib
            run["loadavg"] = loadavg()
            runs[n] = run
            print(json.dumps({"n": n, **run}, default=lambda x: round(x, 1)), flush=True)
            if run["rc"]:
                failed += 1
                print((work / f"repro-{n}.log").read_text()[-4000:])
                break
        ok = {n: r for n, r in runs.items() if r["rc"] == 0}
        slopes = table(ok) if ok else []
        inc: dict[str, Any] | None = None
        repeats: list[dict[str, Any]] = []
        if a.incremental and ok:
            n = max(ok)
            frozen = [x for x in a.freeze.split(",") if x]
            if frozen:
                dvc = str(Path(sys.executable).parent / "dvc")
                subprocess.run([dvc, "freeze", *frozen], cwd=work / f"project-{n}", check=True)
            for i in range(max(1, a.repeats)):
                m = add_new_posts(work / f"dump-{n}")
                suffix = "" if i == 0 else f"-{i + 1}"
                probe = probe_seconds()
                run_i = repro(
                    work / f"project-{n}", work / f"repro-{n}-incremental{suffix}.log", a.until
                )
                run_i["n_new"] = m
                run_i["probe_s"] = probe
                run_i["frozen"] = frozen
                repeats.append(run_i)
                if run_i["rc"]:
                    failed += 1
                    break
            inc = repeats[0]
            full = ok[n]
            m = inc["n_new"]  # the first re-run's: the lines below are about it
            print(
                f"\nincremental: +{m} posts ({100 * m / n:.0f} %) on {human(n)}: "
                f"{inc['seconds']:.1f} s = {100 * inc['seconds'] / full['seconds']:.0f} % of the "
                f"full run ({full['seconds']:.1f} s)"
                + (f"; frozen: {', '.join(frozen)}" if frozen else "")
            )
            gi, gf = grouped(inc), grouped(full)
            for stage, (s, mib) in gi.items():
                share = 100 * s / gf[stage][0] if stage in gf and gf[stage][0] else float("nan")
                print(f"  {stage:<12}{s:>8.1f} s  {share:>5.0f} % of its full run  {mib:>6.0f} MiB")
            print(repeat_summary(repeats, full["seconds"], full.get("probe_s")))
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(
                json.dumps(
                    {"runs": runs, "slopes": slopes, "incremental": inc, "repeats": repeats},
                    indent=1,
                    default=str,
                )
            )
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
