"""``make bench``: throughput, peak memory and peer ratios of every stage, over a size sweep.

    .venv/bin/python -m benchmarks [--sizes 10k,100k,1M] [--embed-sizes 1000,3000] [--full]
                                   [--only ingest,aggregates,...] [--json FILE]

Quick sweep by default (10k, 100k, 1M posts for the cheap stages; 1,000 and 3,000 posts for
embedding); ``--full`` adds 10M posts (and 10,000 embedded posts). Every stage runs in a fresh
process (its peak RSS is its own), beside its peer on the same data; then the log-log slope of
seconds vs size is fitted per stage and anything growing faster than n log n is flagged.
Figures only: nothing here gates on a time. The machine is shared: the load average is printed
with the figures. Last, every attack of issue 13 is re-run (``benchmarks/attacks.py``: before
and after figures, one table; ``python -m benchmarks.attacks`` runs it alone).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import psutil

from benchmarks import scale
from benchmarks.common import (
    MFLOP_PER_TOKEN,
    Figure,
    as_dict,
    human,
    isolated,
    loadavg,
    print_slopes,
    print_table,
    sgemm_peak,
)

STAGES = (
    "ingest",
    "aggregates",
    "incremental",
    "pagerank",
    "models",
    "embedding",
    "topics",
    "stackexchange",
    "embed_routes",
    "attacks",
)
ROOT = Path(__file__).resolve().parents[1]
SE_SITE = ROOT.parent / "shared" / "data" / "real" / "stackexchange-beer"


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def run_stage(figs: list[Figure], fn: Any, *args: Any) -> list[Figure]:
    """Run one benchmark function isolated; print and keep going when it fails."""
    try:
        out = isolated(fn, *args)
    except RuntimeError as exc:
        print(f"  ! {fn.__name__}{args[:1]} failed: {str(exc).splitlines()[0]}", flush=True)
        return []
    for f in out:
        print(
            f"  {f.stage:<24}{f.route:<30}{human(f.n):>6} {f.seconds:>8.2f} s {f.rate:>12,.0f} "
            f"{f.unit}/s  peak {f.peak_mib:>7,.0f} MiB",
            flush=True,
        )
    figs.extend(out)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default=None, help="posts per size for the cheap stages (10k,100k,1M)"
    )
    ap.add_argument("--embed-sizes", default=None, help="posts embedded per size (1000,3000)")
    ap.add_argument("--full", action="store_true", help="add 10M posts and 10,000 embedded posts")
    ap.add_argument("--only", default=",".join(STAGES), help=f"comma list of {', '.join(STAGES)}")
    ap.add_argument("--peer-max", default="1M", help="largest size the pandas peers run at")
    ap.add_argument(
        "--nx-max", default=None, help="largest edge count networkx runs at (100k; 1M with --full)"
    )
    ap.add_argument("--models-max", default="1M", help="largest size for the influence models")
    ap.add_argument(
        "--json", type=Path, default=None, help="also write every figure to this JSON file"
    )
    a = ap.parse_args(argv)

    sizes = [
        parse_size(s)
        for s in (a.sizes or ("10k,100k,1M,10M" if a.full else "10k,100k,1M")).split(",")
    ]
    embed_sizes = [
        parse_size(s)
        for s in (a.embed_sizes or ("1000,3000,10000" if a.full else "1000,3000")).split(",")
    ]
    only = set(a.only.split(","))
    peer_max, models_max = parse_size(a.peer_max), parse_size(a.models_max)
    nx_max = parse_size(a.nx_max or ("1M" if a.full else "100k"))

    print(
        f"python {platform.python_version()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM; load average {loadavg()} (shared machine: "
        f"timings are noisy, ±15 % or more)"
    )
    peak = sgemm_peak(2)
    print(
        f"float32 matmul peak (numpy sgemm 2048², 2 threads): {peak:,.0f} GFLOP/s "
        f"-> MiniLM-L6 ceiling {peak * 1e3 / MFLOP_PER_TOKEN:,.0f} tokens/s",
        flush=True,
    )
    figs: list[Figure] = []
    notes: list[str] = []

    # -- ingest and aggregates: one temporary dump per size
    if only & {"ingest", "aggregates"}:
        for n in sizes:
            folder = scale.tmpdir(f"bench-{human(n)}-")
            print(f"\n== {human(n)} posts in {folder}", flush=True)
            try:
                gen = run_stage(figs, scale.generate, n, str(folder))
                mem_mib = isolated(scale.in_memory_mib, str(folder))
                if gen:
                    notes.append(
                        f"{human(n)} posts: {gen[0].extra['parquet_mib']:,.0f} MiB as Parquet, "
                        f"{mem_mib:,.0f} MiB in memory (polars estimated_size)"
                    )
                    print(f"  {notes[-1]}")
                ours = run_stage(figs, scale.ingest_ours, n, str(folder))
                streamed = (
                    run_stage(figs, scale.ingest_streaming, n, str(folder))
                    if "ingest" in only
                    else []
                )
                if ours and streamed:
                    same = isolated(scale.same_outputs, str(folder))
                    notes.append(
                        f"ingest engines at {human(n)}: memory {ours[0].rate:,.0f} rows/s, peak "
                        f"{ours[0].peak_mib:,.0f} MiB; streaming ({streamed[0].extra['batch_rows']:,}"
                        f" texts a batch) {streamed[0].rate:,.0f} rows/s, peak "
                        f"{streamed[0].peak_mib:,.0f} MiB; identical outputs: {same}"
                    )
                    print(f"  {notes[-1]}")
                limit = run_stage(figs, scale.read_polars, n, str(folder))
                floors = (
                    run_stage(figs, scale.read_write_polars, n, str(folder))
                    + run_stage(figs, scale.scrub_alone, n, str(folder))
                    if "ingest" in only
                    else []
                )
                peer = (
                    run_stage(figs, scale.ingest_pandas, n, str(folder))
                    if "ingest" in only and n <= peer_max
                    else []
                )
                if ours and limit:
                    notes.append(
                        f"ingest at {human(n)}: {ours[0].rate:,.0f} rows/s, peak "
                        f"{ours[0].peak_mib:,.0f} MiB; {ours[0].rate / limit[0].rate:.1%} of the "
                        f"polars read limit ({limit[0].rate:,.0f} rows/s)"
                        + (f"; {peer[0].seconds / ours[0].seconds:.1f}x pandas" if peer else "")
                    )
                    print(f"  {notes[-1]}")
                if ours and len(floors) == 2:
                    io_floor, scrub_floor = floors
                    notes.append(
                        f"ingest floors at {human(n)}: reading + writing alone "
                        f"{io_floor.rate:,.0f} rows/s ({io_floor.seconds:.2f} s), scrubbing alone "
                        f"{scrub_floor.rate:,.0f} rows/s ({scrub_floor.seconds:.2f} s); issue 16's "
                        f"1,000,000 rows/s is the whole ingest in {n / 1e6:.2f} s (ours "
                        f"{ours[0].seconds:.2f} s, {ours[0].rate:,.0f} rows/s)"
                    )
                    print(f"  {notes[-1]}")
                if "aggregates" in only and ours:
                    agg = run_stage(figs, scale.aggregate_ours, n, str(folder))
                    apeer = (
                        run_stage(figs, scale.aggregate_pandas, n, str(folder))
                        if n <= peer_max
                        else []
                    )
                    if agg and apeer:
                        notes.append(
                            f"aggregates at {human(n)}: {agg[0].rate:,.0f} rows/s, "
                            f"{apeer[0].seconds / agg[0].seconds:.1f}x pandas groupby (best of "
                            f"{scale.AGG_REPEAT} runs each; first runs "
                            f"{agg[0].extra['first_seconds']:.2f} s vs "
                            f"{apeer[0].extra['first_seconds']:.2f} s, "
                            f"{apeer[0].extra['first_seconds'] / agg[0].extra['first_seconds']:.1f}x)"
                        )
                        print(f"  {notes[-1]}")
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    # -- graphs and models
    if "pagerank" in only:
        print("\n== pagerank", flush=True)
        for n in sizes:
            run_stage(figs, scale.pagerank_ours, n)
            if n <= nx_max:
                run_stage(figs, scale.pagerank_networkx, n)
    if "models" in only:
        print("\n== influence models (no peer: these scores exist nowhere else)", flush=True)
        for n in sizes:
            if n <= models_max:
                run_stage(figs, scale.models_ours, n)

    # -- embedding and topics
    if only & {"embedding", "topics", "incremental"}:
        folder = scale.tmpdir("bench-embed-")
        try:
            if only & {"embedding", "topics"}:
                print("\n== embedding", flush=True)
                has_bertopic = importlib.util.find_spec("bertopic") is not None
                for n in embed_sizes:
                    out = run_stage(figs, scale.embed_both, n, str(folder))
                    for f in out:
                        tps = f.extra["tokens_per_s"]
                        print(
                            f"    {f.route}: {tps:,.0f} tokens/s = {100 * tps * MFLOP_PER_TOKEN / 1e3 / peak:.0f} % "
                            f"of the sgemm peak; device {f.extra.get('device', out[0].extra['device'])}"
                        )
                    plain = next((f for f in out if f.route == "plain model.encode"), None)
                    for m in (n, 100 * n):  # the static route: same texts, then 100x as many
                        for f in run_stage(figs, scale.embed_static, m):
                            ratio = (
                                f" = {f.n / f.seconds / (plain.n / plain.seconds):,.0f}x plain encode"
                                if plain and m == n
                                else ""
                            )
                            print(
                                f"    {f.route}: {f.n / f.seconds:,.0f} posts/s{ratio}, peak {f.peak_mib:,.0f} MiB"
                            )
                    if "topics" in only and out:
                        run_stage(figs, scale.topics_ours, n, str(folder))
                        if has_bertopic:
                            run_stage(figs, scale.topics_bertopic, n, str(folder))
                if "topics" in only and not has_bertopic:
                    print("  topics peer skipped: bertopic not installed")
                    notes.append("topics peer skipped: bertopic not installed")
            if "incremental" in only:
                print("\n== incremental embedding (content cache)", flush=True)
                for f in run_stage(
                    figs, scale.incremental_embed, min(2000, max(embed_sizes)), str(folder)
                ):
                    if "same_as_cold" in f.extra:
                        line = (
                            f"incremental embed: +1 % re-run {f.extra['speedup']:.0f}x faster than "
                            f"the full run ({f.extra['encoded']} encoded, {f.extra['cached']} from "
                            f"the cache); identical to a cold run: {f.extra['same_as_cold']}"
                        )
                        print(f"  {line}")
                        notes.append(line)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the compute engines (compute.engine) in local mode: Dask LocalCluster vs this process
    if "dask" in only:
        print("\n== compute engines: local vs Dask LocalCluster (2 worker processes x 1 thread)")
        from benchmarks import cluster

        for f in run_stage(figs, cluster.engines, min(1000, max(embed_sizes))):
            if f.extra:
                print(f"    {f.route}: {f.extra}")

    # -- embedding routes judged on our own tasks (benchmarks/embed_routes.py, real SE data):
    # ~8 min with warm caches, ~25 min cold, so only with --full or when named in --only
    if "embed_routes" in only and (a.full or a.only != ",".join(STAGES)):
        print("\n== embedding routes vs plain encode on Stack Exchange beer (NMI, P@3)", flush=True)
        if SE_SITE.exists():
            import subprocess

            script = Path(__file__).with_name("embed_routes.py")
            subprocess.run([sys.executable, str(script), "--sample", "128"], check=False)
        else:
            print(f"  skipped: {SE_SITE} is absent")

    # -- the existing Stack Exchange adapter benchmark (benchmarks/ingest.py), real data
    if "stackexchange" in only:
        print("\n== stackexchange adapter (benchmarks/ingest.py)", flush=True)
        if SE_SITE.exists():
            from benchmarks import ingest as se

            for label, name, route in (
                ("bench_stackexchange", "stackexchange adapter", "adapter (all files)"),
                ("bench_streaming_posts", "SE Posts.xml", "streaming reader"),
                ("bench_pandas_posts", "SE Posts.xml", "pandas.read_xml"),
            ):
                r = se.isolated(label, SE_SITE)
                figs.append(
                    Figure(
                        name,
                        route,
                        int(r["rows"]),
                        r["seconds"],
                        r["peak_rss_mib"],
                        r["rss_growth_mib"],
                    )
                )
        else:
            print(f"  skipped: {SE_SITE} is absent")

    # -- issue 13: every attack on privacy and ingest, re-run (benchmarks/attacks.py)
    attack_rows: list[dict[str, Any]] = []
    if "attacks" in only:
        from benchmarks import attacks

        print("\n== issue 13 attacks (before: old main, quoted from the issue; now: measured)")
        attack_rows = attacks.run(list(attacks.ATTACKS))
        print(attacks.markdown(attack_rows), flush=True)
        n_broken = sum(r["held"] is False for r in attack_rows)
        notes.append(f"issue 13 attacks: {len(attack_rows)} run, {n_broken} still work (BROKEN)")

    # -- summary
    print(f"\n== summary (load average now {loadavg()})")
    ours = [f for f in figs if not _is_peer(f)]
    peers = {(f.stage, f.n): f for f in figs if _is_peer(f)}
    print_table(ours, peers)
    print("\nGrowth of cost with size (log-log slope of seconds vs n; 1 = linear):")
    slopes = print_slopes([f for f in figs if "incremental" not in f.stage])
    for note in notes:
        print("note:", note)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(
            json.dumps(
                {
                    "sgemm_gflops": peak,
                    "loadavg": loadavg(),
                    "figures": [as_dict(f) for f in figs],
                    "slopes": slopes,
                    "notes": notes,
                    "attacks": attack_rows,
                },
                indent=1,
                default=str,
            )
        )
        print(f"figures written to {a.json}")


PEER_ROUTES = ("limit:", "pandas", "networkx", "plain model.encode", "BERTopic", "one process")


def _is_peer(f: Figure) -> bool:
    return f.route.startswith(PEER_ROUTES)


if __name__ == "__main__":
    sys.exit(main())
