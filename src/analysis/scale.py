"""Out-of-core helpers: the canonical-Parquet ingest route and per-account aggregates, streamed.

Serves stage ``ingest`` for inputs too large for memory (the eager ``ingest.py`` holds every
table in RAM) and the size-sweep benchmarks (``benchmarks/scale.py``). Reads canonical posts as
Parquet (one file, a glob or a folder), writes interim posts partitioned by platform and month::

    <out>/platform=<platform>/month=<YYYY-MM>/<run tag>-<n>.parquet

and per-account monthly aggregates with the same layout. Everything is a polars lazy query ending
in ``sink_parquet``, so memory stays bounded by the streaming engine's morsels, not the dump:

* :func:`pseudonymise_posts_lazy` replaces ids by keyed pseudonyms with ``privacy.pseudonym``
  inside *elementwise* batch functions. ``privacy.pseudonymise_expr`` is not marked elementwise,
  which makes the streaming engine fall back to materialising the whole column (measured: 5 GB
  at 10 M rows); here each batch is deduplicated first (post, parent and root ids share one
  lookup table per batch; author and addressee another), so a post costs about one HMAC.
* texts are scrubbed with ``privacy.scrub_text`` in the same elementwise way.
* :func:`account_month_aggregates` counts, per (platform, month, account): posts written,
  replies received and distinct repliers (self-replies are not counted as received).
* :func:`aggregate_partitions` recomputes the aggregates of chosen partitions only, which makes
  an incremental run (1 % new posts in the newest month) cost one month, not the whole history.

Scope: the streaming route does the per-row steps of ingest (removal of opted-out/minor
authors, addressees of removed accounts become the non-participant placeholder, pseudonyms,
scrubbing). The global checks of the eager ingest (duplicate ids, dangling parents, root
recomputation, non-participant merge) need whole-table joins and stay in ``ingest.py``.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from analysis import privacy, schema

log = logging.getLogger(__name__)

#: Keys of the partitioned layouts (interim posts and aggregates).
PARTITION_KEYS = ("platform", "month")
AGG_KEYS = ("platform", "month", "account_id")
AGGREGATES: dict[str, pl.DataType] = {
    "platform": pl.String(),
    "month": pl.String(),
    "account_id": pl.String(),
    "n_posts": pl.UInt32(),
    "n_replies_received": pl.UInt32(),
    "n_distinct_repliers": pl.UInt32(),
}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: Rows per batch (and per row group) of the pyarrow batch engine, and the most rows it buffers.
BATCH_ROWS = 65_536
FLUSH_ROWS = 262_144


# --------------------------------------------------------------------------- pseudonyms, scrubbing


def _pseudonym_table(
    values: Iterable[str], key: bytes, namespace: str, kind: str, prefix: str
) -> dict[str, str]:
    return {v: privacy.pseudonym(key, namespace, kind, v, prefix) for v in values}


def _pseudonymise_struct(
    fields: tuple[str, ...],
    key: bytes,
    namespace: str,
    kind: str,
    prefix: str,
    keep: frozenset[str] = frozenset(),
) -> Callable[[pl.Series], pl.Series]:
    """Batch function over a struct of id columns of one kind: one pseudonym table per batch."""

    def run(s: pl.Series) -> pl.Series:
        frame = s.struct.unnest()
        uniques = pl.concat([frame[f] for f in fields]).drop_nulls().unique()
        raw = [v for v in uniques.to_list() if v not in keep]
        table = _pseudonym_table(raw, key, namespace, kind, prefix)
        table.update({v: v for v in keep})
        old = pl.Series(list(table.keys()), dtype=pl.String)
        new = pl.Series(list(table.values()), dtype=pl.String)
        out = frame.select(
            pl.col(f).replace_strict(old, new, default=None, return_dtype=pl.String) for f in fields
        )
        return out.to_struct(s.name)

    return run


def _scrub_batch(names: privacy.NameRedactor | None) -> Callable[[pl.Series], pl.Series]:
    def run(s: pl.Series) -> pl.Series:
        return pl.Series(
            s.name, [privacy.scrub_text(t, names) for t in s.to_list()], dtype=pl.String
        )

    return run


def _labels_batch(names: privacy.NameRedactor) -> Callable[[pl.Series], pl.Series]:
    def run(s: pl.Series) -> pl.Series:
        out = [
            None if ls is None else [v for v in ls if v is None or not names.mentions(v)]
            for ls in s.to_list()
        ]
        return pl.Series(s.name, out, dtype=pl.List(pl.String))

    return run


def month_expr(col: str = "created_at") -> pl.Expr:
    """``YYYY-MM`` of a UTC datetime column: the time part of the partition key."""
    return pl.col(col).dt.strftime("%Y-%m").alias("month")


def pseudonymise_posts_lazy(
    posts: pl.LazyFrame,
    key: bytes,
    namespace: str,
    names: privacy.NameRedactor | None = None,
    removed_accounts: Iterable[str] = (),
) -> pl.LazyFrame:
    """Raw canonical posts -> interim posts (per-row steps only), lazily and streamable.

    Args:
        posts: raw canonical posts (any subset of the schema's columns; missing ones are null).
        key: the pseudonym key.
        namespace: the dump's pseudonym namespace (as in ``ingest.Source``).
        names: redactor of known handles/names (None: the scrubber's patterns only).
        removed_accounts: raw account ids whose posts are dropped (minors, opt-outs); replies
            addressed to them point at ``schema.NONPARTICIPANT_ID``.

    Returns:
        A LazyFrame in the interim posts schema plus a ``month`` column (``YYYY-MM``).
    """
    cols = schema.columns("posts", schema.INTERIM)
    have = posts.collect_schema()
    posts = posts.select(
        [
            pl.col(c).cast(t) if c in have else pl.lit(None, dtype=t).alias(c)
            for c, t in cols.items()
        ]
    )
    removed = sorted(set(removed_accounts))
    if removed:
        posts = posts.filter(~pl.col("account_id").is_in(removed)).with_columns(
            pl.when(pl.col("reply_to_account_id").is_in(removed))
            .then(pl.lit(schema.NONPARTICIPANT_ID))
            .otherwise(pl.col("reply_to_account_id"))
            .alias("reply_to_account_id")
        )
    post_ids = ("post_id", "parent_post_id", "root_post_id")
    acct_ids = ("account_id", "reply_to_account_id")
    posts = posts.with_columns(
        pl.struct(post_ids)
        .map_batches(
            _pseudonymise_struct(post_ids, key, namespace, "post", privacy.POST_PREFIX),
            return_dtype=pl.Struct(dict.fromkeys(post_ids, pl.String)),
            is_elementwise=True,
        )
        .alias("_posts"),
        pl.struct(acct_ids)
        .map_batches(
            _pseudonymise_struct(
                acct_ids,
                key,
                namespace,
                "account",
                privacy.ACCOUNT_PREFIX,
                keep=frozenset({schema.NONPARTICIPANT_ID}),
            ),
            return_dtype=pl.Struct(dict.fromkeys(acct_ids, pl.String)),
            is_elementwise=True,
        )
        .alias("_accts"),
        pl.col("text").map_batches(
            _scrub_batch(names), return_dtype=pl.String, is_elementwise=True
        ),
    )
    if names is not None:
        # As in the eager ingest: a label equal to a known name is a mention in disguise.
        posts = posts.with_columns(
            pl.col("labels").map_batches(
                _labels_batch(names), return_dtype=pl.List(pl.String), is_elementwise=True
            )
        )
    return posts.drop(*post_ids, *acct_ids).unnest("_posts", "_accts").select(*cols, month_expr())


def _partition_path(tag: str) -> Callable[[object], str]:
    def provide(args: object) -> str:
        keys = args.partition_keys.row(0, named=True)  # type: ignore[attr-defined]
        parts = [f"{k}={_SAFE.sub('_', str(keys[k]))}" for k in PARTITION_KEYS]
        return "/".join([*parts, f"{tag}-{args.index_in_partition:05d}.parquet"])  # type: ignore[attr-defined]

    return provide


@dataclass(frozen=True)
class StreamResult:
    """What a streaming ingest wrote."""

    n_rows: int
    partitions: tuple[tuple[str, str], ...]  # (platform, month) of every partition written
    tag: str
    seconds: float


def ingest_parquet(
    source: str | Path | list[Path],
    out: str | Path,
    key: bytes,
    namespace: str,
    names: privacy.NameRedactor | None = None,
    removed_accounts: Iterable[str] = (),
    tag: str | None = None,
    workers: int = 1,
    engine: str = "batches",
) -> StreamResult:
    """Stream canonical posts Parquet into interim posts partitioned by platform and month.

    New files get a run ``tag`` in their names, so ingesting a batch of new posts adds files
    beside the existing ones instead of overwriting them. Pseudonyms and scrubbing are Python
    (``privacy``) and hold the GIL, so one process uses one core: ``workers > 1`` splits the
    input files among that many processes (each streams its share with bounded memory).

    Args:
        source: a Parquet file, a glob or a folder of Parquet files (raw canonical posts).
        out: root of the partitioned output.
        key: pseudonym key.
        namespace: pseudonym namespace of the dump.
        names: known-name redactor (optional).
        removed_accounts: raw account ids whose posts are removed.
        tag: file name prefix of this run (default: a fresh random tag).
        workers: processes (input files are split among them; 1 = this process).
        engine: ``batches`` (pyarrow row-group batches, per-partition writers: memory bounded
            by constants) or ``polars`` (one streaming ``sink_parquet`` with ``PartitionBy``;
            same output, but its peak grew with the dump in our measurements).

    Returns:
        Rows written, partitions touched, the tag and seconds.
    """
    started = time.perf_counter()
    src = Path(source) if not isinstance(source, list) else source
    if isinstance(src, Path) and src.is_dir():
        src = src / "**" / "*.parquet"
    tag = tag or f"run-{uuid.uuid4().hex[:8]}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = _expand(src)
    sinks = {"batches": _sink_batches, "polars": _sink}
    if engine not in sinks:
        raise ValueError(f"engine {engine!r}: expected one of {sorted(sinks)}")
    sink = sinks[engine]
    if workers > 1 and len(files) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        groups = [files[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            jobs = [
                pool.submit(
                    sink, g, out, key, namespace, names, tuple(removed_accounts), f"{tag}w{i}"
                )
                for i, g in enumerate(groups)
                if g
            ]
            for job in jobs:
                job.result()
    else:
        sink(files, out, key, namespace, names, tuple(removed_accounts), tag)
    written = sorted(out.glob(f"platform=*/month=*/{tag}*-*.parquet"))
    n_rows = pl.scan_parquet(written).select(pl.len()).collect().item() if written else 0
    parts = tuple(sorted({_keys_of(p.parent) for p in written}))
    seconds = time.perf_counter() - started
    log.info(
        "streamed %d posts into %d partitions of %s in %.1f s", n_rows, len(parts), out, seconds
    )
    return StreamResult(n_rows=n_rows, partitions=parts, tag=tag, seconds=seconds)


def _expand(src: Path | list[Path]) -> list[Path]:
    if isinstance(src, list):
        return [Path(p) for p in src]
    if any(ch in str(src) for ch in "*?["):
        anchor = Path(str(src).split("*")[0].split("?")[0].split("[")[0])
        anchor = anchor if anchor.is_dir() else anchor.parent
        return sorted(anchor.glob(str(Path(src).relative_to(anchor))))
    return [src]


def _sink(
    files: list[Path],
    out: Path,
    key: bytes,
    namespace: str,
    names: privacy.NameRedactor | None,
    removed: tuple[str, ...],
    tag: str,
) -> None:
    """One streaming query: scan ``files`` -> per-row ingest steps -> partitioned sink."""
    lf = pseudonymise_posts_lazy(pl.scan_parquet(files), key, namespace, names, removed)
    lf.sink_parquet(
        pl.PartitionBy(
            out, key=list(PARTITION_KEYS), include_key=True, file_path_provider=_partition_path(tag)
        ),
        mkdir=True,
    )


def _sink_batches(
    files: list[Path],
    out: Path,
    key: bytes,
    namespace: str,
    names: privacy.NameRedactor | None,
    removed: tuple[str, ...],
    tag: str,
    batch_rows: int = BATCH_ROWS,
    flush_rows: int = FLUSH_ROWS,
) -> None:
    """Row-group batches with pyarrow: read ``batch_rows``, transform, buffer per partition.

    The same lazy transformation as :func:`_sink`, applied to one batch at a time; each
    partition's rows are buffered until ``batch_rows`` of them (one row group) and all buffers
    together never hold more than ``flush_rows`` rows, so memory is bounded by constants, not by
    the dump.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    writers: dict[tuple[str, str], pq.ParquetWriter] = {}
    buffers: dict[tuple[str, str], list[pl.DataFrame]] = {}
    sizes: dict[tuple[str, str], int] = {}

    def flush(part: tuple[str, str]) -> None:
        frame = pl.concat(buffers.pop(part))
        sizes.pop(part)
        table = frame.to_arrow()
        if part not in writers:
            folder = _partition_folder(out, *part)
            folder.mkdir(parents=True, exist_ok=True)
            writers[part] = pq.ParquetWriter(
                folder / f"{tag}-00000.parquet", table.schema, compression="zstd"
            )
        writers[part].write_table(table)

    try:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                df = pl.from_arrow(pa.Table.from_batches([batch]))
                done = pseudonymise_posts_lazy(df.lazy(), key, namespace, names, removed).collect()
                for (platform, month), part in done.partition_by(
                    "platform", "month", as_dict=True, maintain_order=True
                ).items():
                    k = (str(platform), str(month))
                    buffers.setdefault(k, []).append(part)
                    sizes[k] = sizes.get(k, 0) + part.height
                    if sizes[k] >= batch_rows:
                        flush(k)
                while sum(sizes.values()) > flush_rows:
                    flush(max(sizes, key=sizes.__getitem__))
        for k in list(buffers):
            flush(k)
    finally:
        for w in writers.values():
            w.close()


def _keys_of(folder: Path) -> tuple[str, str]:
    platform = folder.parent.name.split("=", 1)[1]
    month = folder.name.split("=", 1)[1]
    return platform, month


def partitions(root: str | Path) -> list[tuple[str, str]]:
    """The (platform, month) partitions present under ``root`` (folder names, sanitised)."""
    return sorted({_keys_of(p) for p in Path(root).glob("platform=*/month=*") if p.is_dir()})


# --------------------------------------------------------------------------- aggregates


def aggregate_partials(posts: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The additive parts of the aggregates of any slice of posts.

    Returns ``authored`` (platform, month, account_id, n_posts) and ``pairs`` (platform, month,
    reply_to_account_id, account_id, n): sums of these over slices give the partials of the
    union, so slices can be aggregated apart (on workers) and combined by
    :func:`finish_aggregates`. Self-replies and replies to the non-participant placeholder are
    left out.
    """
    if "month" not in posts.collect_schema():
        posts = posts.with_columns(month_expr())
    authored = posts.group_by("platform", "month", "account_id").agg(pl.len().alias("n_posts"))
    pairs = (
        posts.filter(
            pl.col("reply_to_account_id").is_not_null()
            & (pl.col("reply_to_account_id") != pl.col("account_id"))
            & (pl.col("reply_to_account_id") != schema.NONPARTICIPANT_ID)
        )
        .group_by("platform", "month", "reply_to_account_id", "account_id")
        .agg(pl.len().alias("n"))
    )
    return authored, pairs


def finish_aggregates(authored: pl.LazyFrame, pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Combine (possibly several slices' concatenated) partials into the final aggregates."""
    authored = authored.group_by("platform", "month", "account_id").agg(pl.col("n_posts").sum())
    pairs = pairs.group_by("platform", "month", "reply_to_account_id", "account_id").agg(
        pl.col("n").sum()
    )
    received = (
        pairs.group_by("platform", "month", "reply_to_account_id")
        .agg(pl.col("n").sum().alias("n_replies_received"), pl.len().alias("n_distinct_repliers"))
        .rename({"reply_to_account_id": "account_id"})
    )
    return (
        authored.join(received, on=list(AGG_KEYS), how="full", coalesce=True)
        .filter(pl.col("account_id") != schema.NONPARTICIPANT_ID)
        .select(
            [
                pl.col(c).fill_null(0).cast(t) if t == pl.UInt32() else pl.col(c).cast(t)
                for c, t in AGGREGATES.items()
            ]
        )
        .sort(list(AGG_KEYS))
    )


def account_month_aggregates(posts: pl.LazyFrame) -> pl.LazyFrame:
    """Per (platform, month, account): posts written, replies received, distinct repliers.

    A reply counts for the account it addresses (``reply_to_account_id``); self-replies and
    replies to the non-participant placeholder are not counted. Pure and lazy; streamable.

    Args:
        posts: interim posts (``platform``, ``account_id``, ``reply_to_account_id``,
            ``created_at``; a ``month`` column is used when present).

    Returns:
        LazyFrame with the :data:`AGGREGATES` columns, sorted by the keys.
    """
    return finish_aggregates(*aggregate_partials(posts))


def combine_aggregates(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate aggregates of disjoint partitions (each key appears in one part), sorted."""
    frames = [p for p in parts if p.height]
    if not frames:
        return pl.DataFrame(schema=AGGREGATES)
    return pl.concat(frames).sort(list(AGG_KEYS))


def _partition_folder(root: Path, platform: str, month: str) -> Path:
    return root / f"platform={_SAFE.sub('_', platform)}" / f"month={month}"


def aggregate_partitions(
    posts_root: str | Path,
    agg_root: str | Path,
    only: Iterable[tuple[str, str]] | None = None,
) -> dict[str, float]:
    """(Re)compute the aggregates of each posts partition into ``agg_root``, one file each.

    Partitions are by (platform, month), the aggregates' own keys, so each partition's
    aggregates are final by themselves: an incremental run passes ``only`` = the partitions
    that received new posts and leaves every other aggregate file untouched.

    Args:
        posts_root: root of partitioned interim posts.
        agg_root: root of the partitioned aggregates (created).
        only: partitions to recompute (default: all).

    Returns:
        ``{"n_partitions", "n_posts", "seconds"}``.
    """
    started = time.perf_counter()
    posts_root, agg_root = Path(posts_root), Path(agg_root)
    todo = sorted(set(only)) if only is not None else partitions(posts_root)
    n_posts = 0
    for platform, month in todo:
        files = sorted(_partition_folder(posts_root, platform, month).glob("*.parquet"))
        if not files:
            continue
        lf = pl.scan_parquet(files, hive_partitioning=False)
        n_posts += lf.select(pl.len()).collect().item()
        target = _partition_folder(agg_root, platform, month) / "aggregates.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        account_month_aggregates(lf).sink_parquet(tmp)
        tmp.replace(target)  # atomic per partition: a killed run leaves old or new, never half
    return {"n_partitions": len(todo), "n_posts": n_posts, "seconds": time.perf_counter() - started}


def read_aggregates(agg_root: str | Path) -> pl.DataFrame:
    """All aggregate files under ``agg_root`` as one sorted frame."""
    files = sorted(Path(agg_root).glob("platform=*/month=*/aggregates.parquet"))
    if not files:
        return pl.DataFrame(schema=AGGREGATES)
    return pl.scan_parquet(files, hive_partitioning=False).sort(list(AGG_KEYS)).collect()


def stream_aggregates(posts: str | Path, out: str | Path) -> None:
    """Whole-dump aggregates in one streaming query (no partition layout needed)."""
    src = Path(posts)
    if src.is_dir():
        src = src / "**" / "*.parquet"
    account_month_aggregates(pl.scan_parquet(src, hive_partitioning=False)).sink_parquet(out)


def remove_tree(path: str | Path) -> None:
    """Delete a partitioned output folder (helper for benchmarks and re-runs)."""
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- synthetic posts

_VOCAB = (  # noqa: SIM905 - a sentence of words reads better than a list of 70 literals
    "the a of to and is was with my for on it that this I you have not but what when why how "
    "espresso grinder burr roast beans extraction derailleur chainring cassette saddle telescope "
    "eyepiece nebula galaxy compost seedlings mulch decorator asyncio dataframe sourdough gluten "
    "crumb shutter aperture tripod inverter battery insulation kernel compiler query index cache "
    "latency thread mutex garden soil tomato lens sensor bike chain brake tyre pump recipe flour"
).split()
_EXTRAS = (
    "",
    "",
    "",
    "",
    "",
    "",
    " see https://example.org/faq",
    " cc @someone",
    " mail me at jo@example.com",
    " call +44 20 7946 0958",
)
PLATFORMS = ("stackexchange", "reddit")
_DAY = timedelta(days=1)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def synthetic_posts(
    n: int,
    seed: int = 0,
    offset: int = 0,
    n_accounts: int | None = None,
    span_days: float = 730.0,
    start: datetime = EPOCH,
    words: int = 14,
) -> pl.DataFrame:
    """``n`` raw canonical posts, generated vectorised (numpy + polars), ids ``p<offset + i>``.

    Heavy-tailed authors (Zipf-like), 30 % root posts, replies to a recent earlier post of the
    same batch (so threads are local in time, as on real platforms), ``reply_to_account_id`` set
    from the parent's author, two platforms, times spread over ``span_days`` from ``start``,
    texts of ``words`` words with occasional URLs, handles, e-mails and phone numbers (so the
    scrubber has work). About 5 M rows/s; a 10 M dump is written chunk by chunk.
    """
    rng = np.random.default_rng(seed)
    n_accounts = n_accounts or max(10, min(1_000_000, n // 20 + 10))
    w = 1.0 / np.arange(1, n_accounts + 1) ** 0.9
    author = rng.choice(n_accounts, size=n, p=w / w.sum())
    idx = np.arange(n)
    is_root = rng.random(n) < 0.3
    is_root[0] = True
    back = rng.geometric(0.02, n)  # replies go to a post a few dozen posts earlier
    parent = np.where(is_root, -1, np.maximum(idx - back, 0))
    parent[0] = -1
    root = np.where(is_root, idx, parent)
    while True:  # pointer jumping: log2(depth) passes
        nxt = np.where(is_root[root], root, root[root])
        if np.array_equal(nxt, root):
            break
        root = nxt
    seconds = np.sort(rng.uniform(0, span_days * 86_400, n)).astype(np.int64)
    created = np.datetime64(start.replace(tzinfo=None), "us") + (seconds * 1_000_000).astype(
        "timedelta64[us]"
    )
    word_idx = rng.integers(0, len(_VOCAB), (n, words))
    vocab = pl.Series(_VOCAB)
    base = pl.DataFrame(
        {
            "i": idx + offset,
            "author": author,
            "parent": np.where(parent >= 0, parent + offset, -1),
            "root": root + offset,
            "is_root": is_root,
            "created_at": created,
            # a thread lives on one platform: the platform is drawn per root post
            "platform": np.asarray(PLATFORMS)[rng.integers(0, len(PLATFORMS), n)[root]],
            "extra": np.asarray(_EXTRAS)[rng.integers(0, len(_EXTRAS), n)],
            "score": rng.poisson(2.0, n),
            "n_views": rng.integers(0, 5000, n),
        }
    )
    text = pl.concat_str([vocab.gather(word_idx[:, j]) for j in range(words)], separator=" ")
    base = base.with_columns(
        text=text + pl.col("extra"), parent_author=pl.Series(author[np.maximum(parent, 0)])
    )
    pid = lambda c: pl.format("p{}", pl.col(c))  # noqa: E731
    aid = lambda c: pl.format("a{}", pl.col(c))  # noqa: E731
    posts = base.select(
        post_id=pid("i"),
        platform="platform",
        account_id=aid("author"),
        kind=pl.when("is_root").then(pl.lit("question")).otherwise(pl.lit("answer")),
        parent_post_id=pl.when(~pl.col("is_root")).then(pid("parent")),
        root_post_id=pl.when(~pl.col("is_root")).then(pid("root")),
        reply_to_account_id=pl.when(~pl.col("is_root")).then(aid("parent_author")),
        created_at=pl.col("created_at").dt.replace_time_zone("UTC"),
        text="text",
        n_views=pl.when("is_root").then(pl.col("n_views")),
        score="score",
        labels=pl.concat_list(pl.format("tag{}", pl.col("author") % 50)),
    )
    return schema.conform(posts, "posts")


def write_synthetic_dump(
    folder: str | Path,
    n: int,
    chunk_rows: int = 1_000_000,
    seed: int = 0,
    offset: int = 0,
    **kwargs: object,
) -> list[Path]:
    """Write ``n`` synthetic posts as Parquet chunks (bounded memory); returns the files.

    Each chunk covers its own slice of time, so the chunks together read as one history.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    span = float(kwargs.pop("span_days", 730.0))  # type: ignore[arg-type]
    start = kwargs.pop("start", EPOCH)
    files = []
    n_chunks = max(1, -(-n // chunk_rows))
    for k in range(n_chunks):
        rows = min(chunk_rows, n - k * chunk_rows)
        chunk_start = start + (span / n_chunks) * k * _DAY  # type: ignore[operator]
        df = synthetic_posts(
            rows,
            seed=seed + k,
            offset=offset + k * chunk_rows,
            span_days=span / n_chunks,
            start=chunk_start,
            n_accounts=max(10, min(1_000_000, n // 20 + 10)),
            **kwargs,
        )  # type: ignore[arg-type]
        path = folder / f"posts-{offset + k * chunk_rows:012d}.parquet"
        df.write_parquet(path)
        files.append(path)
    return files
