"""Stage ``embed``: read data/interim/posts.parquet, write data/processed/embeddings/.

The vectors are written one Parquet part per month of posts (``YYYY-MM.parquet``, with a
``manifest.json`` of each month's digest), a persistent DVC output: a re-run rewrites the months
whose posts changed and keeps the others as written (:func:`embed_by_month`); ``dvc repro -f
embed`` keeps them too (they would be written with the same bytes). Deleting the folder
rebuilds every part (from the cache below when it holds the texts): do so after changing an
encoder's code without changing its recipe or revision, which the parts, like the cache, do not
see. A part is kept only if its footer names its month's rows and vector space, so a part
damaged or replaced by hand is rewritten (DVC never deletes a persistent output). DVC keeps no
run-cache for a stage with a persistent output: switching params back re-runs embed (from the
cache: seconds per 100k posts) instead of restoring the folder.

The texts missing from the cache are encoded where ``compute.engine`` says (this process, or
the workers of a Dask cluster, each loading the model once); the vectors are the same.

The content-addressed cache (``embed.cache_dir``, default ``data/cache/embeddings``) lives
outside DVC on purpose: it is a memo, not a product. Outputs are the same with or without it,
so deleting it must not invalidate the stage, and DVC must not delete it before a run (which
it does to every non-persistent output). It is gitignored and safe to remove at any time.

Erasure reaches it too: when the opt-out list differs from the one the cache last saw, the cache
is pruned to the texts of the current posts, so no vector of a forgotten account's text remains
(the cost: vectors cached for other dumps are re-encoded when next needed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import numerics, ordering, paths
from analysis.compute import ComputeParams, open_engine
from analysis.config import PrivacyParams, section
from analysis.embed import EmbedParams, EmbedStats, embed_posts, for_size, vector_space
from analysis.embed_cache import EmbeddingCache, KeySet, compact_keys, text_keys, vector_key
from analysis.embed_models import ModelEncoder, installed_revision, resolve_device

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Embed every post's scrubbed text (cached by content)."""
    p = section(params, "embed", EmbedParams)
    if not paths.POSTS.exists():
        raise FileNotFoundError(f"{paths.POSTS} is missing; run `python -m analysis ingest` first")
    have = installed_revision(p.model)
    if have is not None and have != p.revision:
        raise RuntimeError(
            f"embed.revision is {p.revision!r} in params.yaml but the installed package of "
            f"{p.model} is {have!r}; set embed.revision to the installed version (this re-embeds)"
        )
    compute = section(params, "compute", ComputeParams)
    # month by month from the file: one month's posts (and one chunk's vectors) held at a time
    posts = FileMonths(paths.POSTS)
    n_posts = posts.height()
    p = for_size(p, n_posts)  # the static route above embed.static_above_posts
    encoder = ModelEncoder.of(p)
    log.info(
        "model %s@%s, route %s, max %d tokens, on %s, batch %d, %d threads per process, engine %s",
        p.model,
        p.revision,
        p.route,
        p.max_seq_length,
        # the static and ONNX routes run on the CPU: no torch imported to say so (2.8 s)
        (resolve_device(p.device) if p.route == "torch" else "cpu")
        if compute.engine == "local"
        else f"the workers' {p.device}",
        p.batch_size,
        p.threads,
        compute.engine,
    )
    flags, vendor = numerics.cpu_flags(), numerics.cpu_vendor()
    # (where nothing is pinned, ARM or x86 without AVX2, numerics' docstring says so already)
    pinned = numerics.pins_for(platform.machine(), flags)
    if p.route == "torch" and pinned and not numerics.mkl_follows_pin(vendor, flags):
        log.warning(
            "this CPU (%s) runs MKL's own matrix kernels, not the AVX2 ones pinned on Intel: "
            "the vectors may differ in their last bits from other machines' (analysis.numerics)",
            vendor or "a non-Intel CPU",
        )
    cache = EmbeddingCache(p.cache_dir, p.model, vector_key(p))
    legacy = paths.PROCESSED / "embeddings.parquet"  # one file, before the months' parts
    if legacy.is_file():
        legacy.unlink()
        log.info(
            "removed %s: the embeddings are now %s/, one part per month", legacy, paths.EMBEDDINGS
        )
    with open_engine(compute) as engine:
        stats, reused = embed_by_month(
            posts,
            lambda part: embed_posts(
                part,
                encoder,
                cache,
                batch_size=p.batch_size,
                progress_min_texts=p.progress_min_texts,
                engine=None if engine.name == "local" else engine,
            ),
            paths.EMBEDDINGS,
            vector_space(p, n_posts),
        )
    removed = (
        json.loads(paths.INGEST_METRICS.read_text()).get("removed_accounts_sha256", "")
        if paths.INGEST_METRICS.exists()
        else ""
    )
    opt_out = Path(section(params, "privacy", PrivacyParams).opt_out_path)
    prune_after_erasure(cache, posts, opt_out, removed)
    rate = stats.n_encoded / stats.seconds if stats.seconds else 0.0
    log.info(
        "embed: %d posts in unchanged months kept as written; %d posts, %d empty texts (kept, "
        "flagged, no vector), %d unique texts: %d from cache, %d encoded in %.1f s (%.0f texts/s)",
        reused,
        stats.n_posts,
        stats.n_empty,
        stats.n_unique_texts,
        stats.n_cached,
        stats.n_encoded,
        stats.seconds,
        rate,
    )
    return 0


def file_order(posts: pl.DataFrame) -> pl.DataFrame:
    """``post_id, text, created_at`` in the order the ``embeddings`` parts hold the posts:
    key-independent (time, then the text's hash: ``ordering.sort_posts``), not the interim
    table's (time, then the pseudonym). The stages that read the vectors batch by batch
    (topic_fit, topics, validate's refits) keep this order (``topics.post_vectors``: the seeded
    samples are drawn in it) and add them up in it; with pseudonyms breaking ties, a batch's
    rows and the order of a sum would change with the key."""
    return ordering.sort_posts(posts).select("post_id", "text", "created_at")


class FrameMonths:
    """The posts month by month from a frame in memory (``post_id, text, created_at`` in file
    order): what :func:`embed_by_month` reads when handed a frame (tests, small dumps)."""

    def __init__(self, posts: pl.DataFrame) -> None:
        self.posts = posts.with_columns(_month=MONTH)

    def months(self) -> list[str | None]:
        """The months of the posts, in time order (a null ``created_at`` is kept: ``None``)."""
        return self.posts["_month"].unique(maintain_order=True).to_list()

    def read(self, month: str | None) -> pl.DataFrame:
        """The month's posts in file order, with ``_month``."""
        if month is None:
            return self.posts.filter(pl.col("_month").is_null())
        return self.posts.filter(pl.col("_month") == month)


class FileMonths:
    """The posts of the interim table at ``path`` month by month (the stage's source): each
    month read by a filter on ``created_at`` (the table is in time order, so Parquet's row-group
    statistics let the reader skip the other months: at 1M posts 25 months read in 0.37 s,
    the whole table in 0.33 s) and put in file order (:func:`file_order`: a month's rows in the
    order the whole table's would give them). The stage holds one month's posts at a time, not
    the dump's (at 10M posts ~1.3 GB of ids and texts, read whole before)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def height(self) -> int:
        """The number of posts (Parquet's metadata: nothing read)."""
        return int(pl.scan_parquet(self.path).select(pl.len()).collect().item())

    def months(self) -> list[str | None]:
        """The months of the posts in time order; ``None`` last when a post has no
        ``created_at`` (:func:`month_digests` refuses it, as for a frame)."""
        found = (
            pl.scan_parquet(self.path)
            .select(MONTH.alias("_month"))
            .unique()
            .sort("_month", nulls_last=True)
            .collect()
        )
        return found["_month"].to_list()

    def read(self, month: str | None) -> pl.DataFrame:
        """The month's posts (``post_id, text, created_at, _month``) in file order."""
        when = pl.col("created_at")
        if month is None:
            keep = when.is_null()
        else:
            year, mon = (int(x) for x in month.split("-"))
            start = datetime(year, mon, 1, tzinfo=UTC)
            end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
            keep = (when >= start) & (when < end)
        rows = (
            pl.scan_parquet(self.path)
            .select("post_id", "text", "created_at")
            .filter(keep)
            .collect()
        )
        return file_order(rows).with_columns(_month=MONTH)


#: Where :func:`embed_by_month` reads the posts: a month's rows at a time.
Months = FrameMonths | FileMonths


#: The vectors are written uncompressed: zstd saved ~7 % of a float32 table (1.40 vs 1.47 GB
#: at 1M posts) for 2.7x the time to write it (200k rows: 1.95 vs 0.71 s,
#: ``benchmarks/embed_cache.py``) and 1.6x the time of each pass that reads it back
#: (``vectors.ParquetVectors``: 2.2 vs 1.4 s; topic_fit, topics, validate's refits).
COMPRESSION = "uncompressed"

#: Posts embedded and written per chunk: the stage holds one chunk's vectors (1.5 KiB a post,
#: in a few copies), never the whole dump's (10 M posts: ~15 GiB per copy). Every dump this
#: project ships or tests on is one chunk, written exactly as before.
CHUNK_POSTS = 200_000


#: The parts' layout, recorded in the manifest: parts written under another are rewritten.
PARTS_FORMAT = 1
#: The folder's record of what each part holds (no id, no text: digests and counts).
MANIFEST = "manifest.json"
#: Key of a part's own month digest in its Parquet footer: a part is kept only when its footer
#: says it holds the rows the manifest expects (a part truncated, emptied or swapped for another
#: month's file is rewritten; DVC cannot do it: it never deletes a persistent output).
PART_DIGEST = "resonance.month_sha256"
#: Key of a part's vector space (``embed.vector_space``) in its Parquet footer.
PART_VECTORS = "resonance.vectors"


#: A post's month, ``YYYY-MM`` of ``created_at`` (UTC): the part it is written in.
MONTH = pl.col("created_at").dt.strftime("%Y-%m")


def month_digests(posts: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per month (``_month``: :data:`MONTH`) of ``posts`` (in file order): its number of
    posts and the sha256 of its rows (each row's ``post_id`` and text, in order). Equal digests
    in the same vector space mean the part would be written with the same bytes: a post's
    vector is a function of its text alone (``embed_models``: no batch neighbour moves it), and
    the rows' order a function of the rows (:func:`file_order`)."""
    if posts["post_id"].null_count():
        raise ValueError(f"embed: {posts['post_id'].null_count()} posts have no post_id")
    if posts["_month"].null_count():
        raise ValueError(
            f"embed: {posts['_month'].null_count()} posts have no created_at; ingest "
            "requires one (run `dvc repro ingest`)"
        )
    # the sha256 of the concatenated row digests, each month's rows in file order (a group-by
    # keeps the rows' order inside a group), computed in polars: joining a million hex strings
    # in Python took half of this function at 1M posts
    months = (
        posts.select(
            month="_month",
            d=pl.concat_str(
                [
                    pl.col("post_id"),
                    pl.col("text").is_null().cast(pl.String),
                    pl.col("text").fill_null(""),
                ],
                separator="\x1f",
            ).chash.sha2_256(),
        )
        .group_by("month", maintain_order=True)
        .agg(n_posts=pl.len(), sha256=pl.col("d").str.join("").chash.sha2_256())
    )
    return {str(month): {"n_posts": n, "sha256": digest} for month, n, digest in months.iter_rows()}


def embed_by_month(
    posts: pl.DataFrame | Months,
    embed: Callable[[pl.DataFrame], tuple[pl.DataFrame, EmbedStats]],
    folder: Path,
    space: str,
    chunk_posts: int = CHUNK_POSTS,
) -> tuple[EmbedStats, int]:
    """The ``embeddings`` table as one Parquet part per month of ``posts`` (``post_id, text,
    created_at`` in file order, or a source of them month by month: :class:`FileMonths`) under
    ``folder``: ``YYYY-MM.parquet``, read in name order (``vectors.parts``). Returns the stats
    of the months embedded and the posts of the months kept. The posts are read twice, a month
    at a time: for the months' digests, then the months to rewrite; no more than a group of
    months (``chunk_posts``, or one larger month) is held.

    A month whose rows (:func:`month_digests`) and vector ``space`` match ``folder``'s manifest
    keeps its part as written: new posts touch the last months, so a re-run embeds and writes
    those (and DVC hashes and caches those: the output is ``persist``) instead of every post
    (at 1M posts a 1.5 GB file hashed and copied into DVC's cache on every run). Parts of
    months no longer in the posts (an erased account's only month) are removed. A run killed
    half-way leaves the months it was rewriting out of the manifest, so the next run rewrites
    them. Consecutive months to rewrite are embedded together up to ``chunk_posts`` posts (a
    month alone read every cache shard from its start to the month's rows: a full rewrite of
    25 months at 1M took 45 s so, 28 s grouped), a larger month alone in chunks
    (:func:`embed_in_chunks`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / MANIFEST
    try:
        old = json.loads(record.read_text()) if record.exists() else {}
    except ValueError:  # unreadable: every month is rewritten
        old = {}
    layout = {"format": PARTS_FORMAT, "compression": COMPRESSION, "vectors": space}
    same = isinstance(old, dict) and all(old.get(k) == v for k, v in layout.items())
    before = old.get("months", {}) if same else {}
    source = FrameMonths(posts) if isinstance(posts, pl.DataFrame) else posts
    want: dict[str, dict[str, Any]] = {}
    for month in source.months():
        want.update(month_digests(source.read(month)))
    stale = [
        m
        for m, entry in want.items()
        if before.get(m) != entry or not _part_holds(folder / f"{m}.parquet", entry, space)
    ]

    def write_record(months: dict[str, Any]) -> None:
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps({**layout, "months": months}, indent=1, sort_keys=True) + "\n")
        tmp.replace(record)

    def footer(m: str) -> dict[str, str]:
        return {PART_DIGEST: want[m]["sha256"], PART_VECTORS: space}

    write_record({m: e for m, e in want.items() if m not in stale})
    for f in folder.iterdir():
        if f.is_dir():
            shutil.rmtree(f)
        elif f.name != MANIFEST and (f.suffix != ".parquet" or f.stem not in want):
            f.unlink()
    totals = [0] * 5
    seconds = 0.0
    for months in _month_groups([(m, want[m]["n_posts"]) for m in stale], chunk_posts):
        group = pl.concat([source.read(m) for m in months])
        rows = group.select("post_id", "text")
        if len(months) == 1:  # one month, in chunks if large
            m = months[0]
            st = embed_in_chunks(rows, embed, folder / f"{m}.parquet", chunk_posts, footer(m))
        else:  # small months embedded together (the cache read once per shard), split
            out, st = embed(rows)
            at = 0
            for m, n in group.group_by("_month", maintain_order=True).len().iter_rows():
                _write_part(out.slice(at, n), folder / f"{m}.parquet", footer(m))
                at += n
        for i, v in enumerate(
            (st.n_posts, st.n_empty, st.n_unique_texts, st.n_cached, st.n_encoded)
        ):
            totals[i] += v
        seconds += st.seconds
    write_record(want)
    reused = sum(e["n_posts"] for m, e in want.items() if m not in stale)
    log.info(
        "embed: %d months, %d rewritten, %d kept as written (%d posts)",
        len(want),
        len(stale),
        len(want) - len(stale),
        reused,
    )
    return EmbedStats(*totals, seconds=seconds), reused


def _month_groups(sizes: list[tuple[str, int]], chunk_posts: int) -> list[list[str]]:
    """The months to write (``(month, posts)`` in file order) cut into runs of consecutive
    months of at most ``chunk_posts`` posts; a larger month is a run alone."""
    groups: list[list[str]] = []
    run: list[str] = []
    size = 0
    for month, n in sizes:
        if size and size + n > chunk_posts:
            groups.append(run)
            run, size = [], 0
        run.append(month)
        size += n
    if run:
        groups.append(run)
    return groups


def _part_holds(path: Path, entry: dict[str, Any], space: str) -> bool:
    """Whether the part at ``path`` is readable and its footer names the rows of ``entry`` (a
    manifest entry: its digest and count) and the vector ``space``."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError):  # missing, truncated, not Parquet
        return False
    footer = meta.metadata or {}
    return (
        footer.get(PART_DIGEST.encode(), b"").decode() == entry["sha256"]
        and footer.get(PART_VECTORS.encode(), b"").decode() == space
        and meta.num_rows == entry["n_posts"]
    )


def _write_part(frame: pl.DataFrame, path: Path, footer: dict[str, str] | None = None) -> None:
    """``frame`` written to ``path`` through a temporary file (never in place: a part may be
    DVC's copy; a killed run leaves no half part), in one chunk (the same bytes whatever the
    frame was sliced from), ``footer`` in its key-value metadata (:data:`PART_DIGEST`,
    :data:`PART_VECTORS`)."""
    tmp = path.with_suffix(".tmp")
    try:
        frame.rechunk().write_parquet(
            tmp, compression=COMPRESSION, statistics=True, metadata=footer
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s rows to %s", f"{frame.height:,}", path)


def embed_in_chunks(
    posts: pl.DataFrame,
    embed: Callable[[pl.DataFrame], tuple[pl.DataFrame, EmbedStats]],
    path: Path,
    chunk_posts: int = CHUNK_POSTS,
    footer: dict[str, str] | None = None,
) -> EmbedStats:
    """``embed`` the posts ``chunk_posts`` at a time into the Parquet file ``path`` (the table
    one call writes; ``footer`` in its key-value metadata); returns the summed stats
    (unique texts and cache hits are counted per chunk: a text repeated in a later chunk is a
    cache hit).

    The chunks stream into polars' Parquet sink as a Python source, so one chunk's vectors are
    held at a time and polars writes them (the first chunk is embedded here, for the table's
    schema). pyarrow's ``ParquetWriter``, appending a chunk at a time before, wrote a nested
    float list 3-4x slower (200k rows: 1.12-1.46 s vs 0.36 s; at 1M posts 8 s of the stage
    with the copy to Arrow).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if posts.height <= chunk_posts:
        out, stats = embed(posts)
        _write_part(out, path, footer)
        return stats
    tmp = path.with_suffix(".tmp")  # never written in place: a part may be DVC's copy
    from polars.io.plugins import register_io_source

    totals = [0] * 5
    seconds = [0.0]

    def count(out: pl.DataFrame, st: EmbedStats, start: int) -> pl.DataFrame:
        for i, v in enumerate(
            (st.n_posts, st.n_empty, st.n_unique_texts, st.n_cached, st.n_encoded)
        ):
            totals[i] += v
        seconds[0] += st.seconds
        log.info("embed: %d of %d posts embedded", start + out.height, posts.height)
        return out

    first = [count(*embed(posts.slice(0, chunk_posts)), 0)]  # popped: not held to the end
    schema = first[0].schema

    def chunks(
        with_columns: list[str] | None, predicate: Any, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        if with_columns is not None or predicate is not None or n_rows is not None:
            raise ValueError("embed: the embeddings sink asked for a part of the table")
        yield first.pop()  # the sink below reads the source once, every row and column
        for start in range(chunk_posts, posts.height, chunk_posts):
            yield count(*embed(posts.slice(start, chunk_posts)), start)

    try:
        register_io_source(chunks, schema=schema, validate_schema=True).sink_parquet(
            tmp, compression=COMPRESSION, statistics=True, metadata=footer
        )
        tmp.replace(path)  # atomic: a killed run never leaves half a table
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s rows to %s", f"{posts.height:,}", path)
    return EmbedStats(*totals, seconds=seconds[0])


def prune_after_erasure(
    cache: EmbeddingCache,
    posts: pl.DataFrame | Months,
    opt_out: Path,
    removed_digest: str = "",
) -> int:
    """Prune ``cache``, and every other cache folder beside it, to the texts of ``posts`` (a
    frame, or a source of them month by month: the texts' keys are taken a month at a time)
    when the opt-out list or the set of removed accounts (``removed_digest``, from ingest.json)
    changed since that folder was last pruned.

    The other folders are the vectors of other models, revisions and routes (the static route
    that ``embed.static_above_posts`` switches to, an ONNX route, an older revision): a route
    not used in this run still holds the erased texts' vectors, so every folder is pruned, not
    only the one this run reads. Each folder records the sha256 of the list it was last pruned
    for (``opt_out.sha256``; a digest of digests, nothing raw). Returns the keys removed.
    """
    listed = opt_out.read_bytes() if opt_out.exists() else b""
    # Ingest's digest of the removed accounts: a later is_minor flag (or a rejected account row)
    # removes someone without touching the opt-out list, and must prune the cache all the same.
    if removed_digest:
        listed += b"\x1f" + removed_digest.encode()
    digest = hashlib.sha256(listed).hexdigest()
    nothing = hashlib.sha256(b"").hexdigest()
    root = cache.folder.parent
    others = [
        EmbeddingCache.at(f)
        for f in (sorted(root.iterdir()) if root.is_dir() else [])
        if f.is_dir() and f != cache.folder and any(f.glob("shard-*.parquet"))
    ]
    keys: KeySet | None = None
    removed = 0
    for c in [cache, *others]:
        marker = c.folder / "opt_out.sha256"
        seen = marker.read_text().strip() if marker.exists() else nothing
        if digest != seen:
            if keys is None:
                keys = _text_keys_of(posts)
            n = c.prune(keys)
            removed += n
            log.info("opt-out list changed: pruned %d cached vectors of %s", n, c.folder.name)
        c.folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest + "\n")
    return removed


def _text_keys_of(posts: pl.DataFrame | Months) -> KeySet:
    """The content addresses of every text of ``posts`` (a month at a time from a source), as
    the cache's sorted set of keys (``embed_cache.KeySet``: 32 bytes a text, no hash table)."""
    if isinstance(posts, pl.DataFrame):
        return KeySet(compact_keys(text_keys(posts["text"].drop_nulls().unique())))
    return KeySet(
        pl.concat(
            [
                compact_keys([]),  # a dump without posts
                *(
                    compact_keys(text_keys(posts.read(m)["text"].drop_nulls().unique()))
                    for m in posts.months()
                ),
            ]
        )
    )
