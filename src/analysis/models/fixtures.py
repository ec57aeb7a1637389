"""Interim-like ``Tables`` straight from a simulated dump, for tests and benchmarks (no ingest).

Mirrors what ``ingest`` does to the shape of the tables, without pseudonymising: drops handles
and display names, merges non-participants into the placeholder, fills ``reply_to_account_id``
from the parent's author and ``is_participant`` (authored at least one post).
"""

from __future__ import annotations

import polars as pl

from analysis import schema
from analysis.demo import DemoDump
from analysis.models.base import Tables


def tables_from_demo(dump: DemoDump) -> Tables:
    """Interim-shaped tables of a demo dump (raw ids kept; fine for tests, never published)."""
    authors = dump.posts.select("account_id").unique()
    accounts = dump.accounts.join(authors, on="account_id", how="semi")
    placeholder = pl.DataFrame({"account_id": [schema.NONPARTICIPANT_ID], "platform": ["demo"]})
    accounts = pl.concat(
        [
            schema.conform(
                accounts.with_columns(is_participant=pl.lit(True)), "accounts", schema.INTERIM
            ),
            schema.conform(
                placeholder.with_columns(is_participant=pl.lit(False)), "accounts", schema.INTERIM
            ),
        ]
    )
    parents = dump.posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_parent_author")
    )
    posts = (
        dump.posts.join(parents, on="parent_post_id", how="left")
        .with_columns(reply_to_account_id=pl.coalesce("reply_to_account_id", "_parent_author"))
        .with_columns(
            reply_to_account_id=pl.when(
                pl.col("reply_to_account_id").is_in(authors["account_id"].implode())
            )
            .then(pl.col("reply_to_account_id"))
            .otherwise(
                pl.when(pl.col("reply_to_account_id").is_not_null()).then(
                    pl.lit(schema.NONPARTICIPANT_ID)
                )
            )
        )
    )
    posts = schema.conform(posts, "posts", schema.INTERIM)
    reactions = dump.reactions.with_columns(
        actor_account_id=pl.when(pl.col("actor_account_id").is_in(authors["account_id"].implode()))
        .then(pl.col("actor_account_id"))
        .otherwise(
            pl.when(pl.col("actor_account_id").is_not_null()).then(pl.lit(schema.NONPARTICIPANT_ID))
        )
    )
    return Tables(
        accounts=accounts,
        posts=posts,
        reactions=schema.conform(reactions, "reactions", schema.INTERIM),
    )
