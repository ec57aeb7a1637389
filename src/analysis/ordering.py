"""Key-independent order of accounts and posts (used wherever something is sorted or sampled).

Pseudonyms are HMACs under a secret key: sorting by them and then sampling, bootstrapping or
shuffling makes a result depend on the key (two keys gave 30 vs 15 topics and different
recommendations). Everything that draws at random first orders rows by what the data says:
timestamps, then a hash of the (scrubbed) text, then counts; the pseudonym breaks only the ties
that remain (the same account's identical posts at the same second, which cannot matter).
"""

from __future__ import annotations

import polars as pl

#: A column holding each post's :func:`text_hash`, for a table that does not hold the texts
#: (stage ``validate`` hashes them batch by batch from the file): every function here reads it
#: where ``text`` is absent.
TEXT_HASH = "_text_hash"
#: A column holding each post's text length in characters (null text: 0), beside
#: :data:`TEXT_HASH` (``validate``'s within-thread test controls for it).
TEXT_LEN = "_text_len"


def text_hash() -> pl.Expr:
    """A hash of ``text`` that depends on the content only (seeded, not keyed)."""
    return pl.col("text").fill_null("").hash(seed=20_240_101)


def text_len() -> pl.Expr:
    """The length of ``text`` in characters (null text: 0)."""
    return pl.col("text").fill_null("").str.len_chars()


def text_digest(texts: pl.Series) -> pl.DataFrame:
    """:data:`TEXT_HASH` and :data:`TEXT_LEN` of ``texts`` (in their order)."""
    return (
        texts.alias("text")
        .to_frame()
        .select(text_hash().alias(TEXT_HASH), text_len().alias(TEXT_LEN))
    )


def content_columns(df: pl.DataFrame) -> list[str]:
    """The columns that stand for the posts' texts in ``df``: ``text``, or the digest's
    columns it holds."""
    if TEXT_HASH not in df.columns:
        return ["text"]
    return [c for c in (TEXT_HASH, TEXT_LEN) if c in df.columns]


def hash_of(df: pl.DataFrame) -> pl.Expr:
    """:func:`text_hash` of ``df``'s posts, read from :data:`TEXT_HASH` where it holds it."""
    return pl.col(TEXT_HASH) if TEXT_HASH in df.columns else text_hash()


def len_of(df: pl.DataFrame) -> pl.Expr:
    """:func:`text_len` of ``df``'s posts, read from :data:`TEXT_LEN` where it holds it."""
    return pl.col(TEXT_LEN) if TEXT_LEN in df.columns else text_len()


def sort_posts(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` (with ``created_at``, and ``text`` or its hash :data:`TEXT_HASH`) in a
    key-independent order."""
    h = hash_of(df)
    return (
        df.with_columns(_h=h)
        .sort("created_at", "_h", *(["post_id"] if "post_id" in df.columns else []))
        .drop("_h")
    )


def account_order(posts: pl.DataFrame) -> pl.DataFrame:
    """``account_id, order``: accounts ranked by first post time, its text hash and post count.

    Args:
        posts: posts with ``account_id``, ``created_at`` and ``text`` (or its
            :data:`TEXT_HASH`).
    """
    return (
        posts.with_columns(_h=hash_of(posts))
        .sort("created_at", "_h")
        .group_by("account_id", maintain_order=True)
        .agg(
            _first=pl.col("created_at").first(),
            _fh=pl.col("_h").first(),
            _n=pl.len(),
        )
        .sort("_first", "_fh", "_n", "account_id")
        .with_row_index("order")
        .select("account_id", pl.col("order").cast(pl.Int64))
    )


def sort_accounts(df: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """``df`` (with ``account_id``) sorted by :func:`account_order`; accounts without posts last."""
    return (
        df.join(account_order(posts), on="account_id", how="left")
        .sort("order", "account_id", nulls_last=True)
        .drop("order")
    )
