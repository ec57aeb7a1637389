"""Each influence model on a project's interim tables, read as the score stage reads them:
seconds and the model's own memory over the loaded tables, one fresh process per model.

    .venv/bin/python -m benchmarks.models_memory --project DIR [--models volume,conversation_eb]
                                                 [--read contiguous,as-read]
                                                 [--ids numbers,categorical,string]

``--read contiguous`` is the score stage's read (``io.read_contiguous``: each column in one
chunk); ``as-read`` is ``pl.read_parquet`` as it comes, a chunk per Parquet row group (the read
before session 44), to compare the two. ``--ids numbers`` holds the ids as the stage does: the
post ids as the 64-bit numbers of their pseudonyms where every one is a pseudonym
(``schema.POST_NUMBER_COLUMNS``, since session 61), the other ids as categoricals
(``schema.ID_COLUMNS``, since session 46); ``categorical`` every id as a categorical (sessions
46-60), ``string`` as the files hold them (before); the scores are the same every way
(``tests/unit/test_bench_models_memory.py``).
``growth`` is the process's peak RSS while the model scores, over its RSS once the tables are
loaded (``benchmarks.common.PeakRSS``: the kernel's high-water mark, reset at the start). Time
and memory are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import PeakRSS, isolated

READS = ("contiguous", "as-read")
IDS = ("numbers", "categorical", "string")


def score_one(
    project: str, name: str, read: str, ids: str = "numbers", out: str | None = None
) -> dict[str, Any]:
    """Model ``name`` on ``project``'s interim tables read the ``read`` way, the ids held the
    ``ids`` way: seconds, the RSS with the tables loaded, the model's growth over it (MiB), the
    posts' largest chunk count. ``out``: a Parquet file for the scores (ids as strings)."""
    import polars as pl

    from analysis import models as registry
    from analysis import paths, schema
    from analysis.config import load_params
    from analysis.models import common
    from analysis.models.base import READS_TOPICS_FLAG, skipped_post_columns
    from analysis.models.params import model_params
    from analysis.stages import tables as stage_tables

    if read not in READS:
        raise ValueError(f"--read {read}: one of {', '.join(READS)}")
    if ids not in IDS:
        raise ValueError(f"--ids {ids}: one of {', '.join(IDS)}")
    root = Path(project)
    params_file = root / "params.yaml"
    params = load_params(params_file) if params_file.exists() else {}
    p = model_params(params)
    module = registry.get(name)
    reader = stage_tables.read_contiguous

    def read_as_asked(
        path: Path | str, columns: Any = None, categorical: Any = (), numbers: Any = ()
    ) -> pl.DataFrame:
        cats = categorical if ids != "string" else ()
        nums = numbers if ids == "numbers" else ()
        if read == "contiguous":
            return reader(path, columns, cats, nums)
        df = pl.read_parquet(path, columns=None if columns is None else list(columns))
        as_numbers = {c: schema.post_numbers(df[c]) for c in nums if c in df.columns}
        df = df.with_columns(s for s in as_numbers.values() if s is not None)
        df = df.with_columns(
            pl.col(c).cast(pl.Categorical)
            for c in cats
            if c in df.columns and df.schema[c] == pl.String
        )
        return df

    stage_tables.read_contiguous = read_as_asked  # type: ignore[assignment]
    try:
        tables = stage_tables.load_tables(
            root / paths.INTERIM,
            topics=None,
            skip_post_columns=skipped_post_columns([module]),
            post_numbers=ids == "numbers",
        )
        if getattr(module, READS_TOPICS_FLAG, False):
            topics = stage_tables.read_post_topics(root / paths.POST_TOPICS, ids == "numbers")
            tables = replace(tables, post_topics=topics)
    finally:
        stage_tables.read_contiguous = reader
    tables = replace(tables, posts=common.annotate(tables.posts))
    as_of = common.resolve_as_of(p, tables.posts)
    chunks = max(tables.posts.n_chunks("all"))
    gc.collect()
    with PeakRSS() as mem:
        started = time.perf_counter()
        scores = module.score(tables, p, as_of)
        seconds = time.perf_counter() - started
    if out is not None:
        schema.ids_as_strings(scores).write_parquet(out)
    return {
        "model": name,
        "read": read,
        "ids": ids,
        "seconds": seconds,
        "tables_mib": mem.start / 2**20,
        "growth_mib": mem.growth_mib,
        "posts_chunks": chunks,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, help="a project folder with data/interim")
    ap.add_argument("--models", default=None, help="comma-separated (default: models.scored)")
    ap.add_argument("--read", default="contiguous", help="contiguous, as-read or both")
    ap.add_argument("--ids", default=",".join(IDS), help="numbers, categorical, string or several")
    a = ap.parse_args(argv)
    if a.models:
        names = [m for m in a.models.split(",") if m]
    else:
        from analysis.config import load_params
        from analysis.models.params import model_params

        params_file = Path(a.project) / "params.yaml"
        names = list(model_params(load_params(params_file) if params_file.exists() else {}).names)
    reads = [r for r in a.read.split(",") if r]
    idss = [i for i in a.ids.split(",") if i]
    print(
        f"{'model':<18} {'read':<11} {'ids':<12} {'seconds':>8} {'tables MiB':>11} "
        f"{'growth MiB':>11} chunks"
    )
    for name in names:
        for read in reads:
            for ids in idss:
                r = isolated(score_one, a.project, name, read, ids)
                print(
                    f"{r['model']:<18} {r['read']:<11} {r['ids']:<12} {r['seconds']:>8.2f} "
                    f"{r['tables_mib']:>11,.0f} {r['growth_mib']:>11,.0f} {r['posts_chunks']:>6}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
