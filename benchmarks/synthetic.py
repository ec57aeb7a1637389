"""Synthetic canonical dumps for the benchmarks: vectorised (numpy + polars), any size.

``write_synthetic_dump`` writes a canonical dump folder (``accounts.parquet`` plus posts in
Parquet chunks, read by ``analysis.sources.canonical``), with heavy-tailed authors, threads local
in time, two platforms, and texts that give the scrubber work: URLs, handles, e-mails, phone
numbers and the display names of other accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from analysis import schema

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
    " thanks {name}",
    " as {handle} said",
)
_FIRST = ("Mara", "Pat", "Nell", "Edwin", "Chloé", "Dev", "Fay", "Gus", "Hal", "Ines", "Jo", "Kit")
_LAST = ("Kettleworth", "Trent", "Drood", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva")
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
    other = rng.integers(0, n_accounts, n)  # the account a text names, when it names one
    extra = (
        pl.col("extra")
        .str.replace("{name}", pl.lit(display_name(other)), literal=True)
        .str.replace("{handle}", pl.lit(handle(other)), literal=True)
    )
    base = base.with_columns(
        text=text + extra, parent_author=pl.Series(author[np.maximum(parent, 0)])
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


def handle(i: np.ndarray) -> pl.Series:
    """Handles of synthetic accounts ``i`` (lower case, as most handles are)."""
    return pl.select(pl.format("user_{}", pl.lit(pl.Series(i)))).to_series()


def display_name(i: np.ndarray) -> pl.Series:
    """Display names of synthetic accounts ``i``: a first and a last name, numbered."""
    first = np.asarray(_FIRST)[i % len(_FIRST)]
    last = np.asarray(_LAST)[(i // len(_FIRST)) % len(_LAST)]
    return pl.select(
        pl.format(
            "{} {}{}", pl.lit(pl.Series(first)), pl.lit(pl.Series(last)), pl.lit(pl.Series(i))
        )
    ).to_series()


def synthetic_accounts(n_accounts: int) -> pl.DataFrame:
    """The accounts table of a synthetic dump: ids ``a<i>``, handles and display names."""
    i = np.arange(n_accounts)
    frame = pl.DataFrame(
        {
            "account_id": pl.select(pl.format("a{}", pl.lit(pl.Series(i)))).to_series(),
            "platform": [PLATFORMS[0]] * n_accounts,
            "handle": handle(i),
            "display_name": display_name(i),
        }
    )
    return schema.conform(frame, "accounts")


def write_synthetic_dump(
    folder: str | Path,
    n: int,
    chunk_rows: int = 1_000_000,
    seed: int = 0,
    offset: int = 0,
    **kwargs: object,
) -> list[Path]:
    """Write ``n`` synthetic posts and their accounts as a canonical dump; returns the files.

    Posts are generated and written chunk by chunk (bounded memory) into one ``posts.parquet``,
    each chunk covering its own slice of time, so the chunks together read as one history.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    span = float(kwargs.pop("span_days", 730.0))  # type: ignore[arg-type]
    start = kwargs.pop("start", EPOCH)
    n_accounts = max(10, min(1_000_000, n // 20 + 10))
    n_chunks = max(1, -(-n // chunk_rows))
    posts = folder / "posts.parquet"
    writer = None
    try:
        for k in range(n_chunks):
            rows = min(chunk_rows, n - k * chunk_rows)
            chunk_start = start + (span / n_chunks) * k * _DAY  # type: ignore[operator]
            df = synthetic_posts(
                rows,
                seed=seed + k,
                offset=offset + k * chunk_rows,
                span_days=span / n_chunks,
                start=chunk_start,
                n_accounts=n_accounts,
                **kwargs,
            )  # type: ignore[arg-type]
            table = df.to_arrow()
            writer = writer or pq.ParquetWriter(posts, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    accounts = folder / "accounts.parquet"
    synthetic_accounts(n_accounts).write_parquet(accounts)
    return [posts, accounts]
