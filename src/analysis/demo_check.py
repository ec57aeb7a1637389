"""Hidden-trait check on the simulated demo (pure; the ``compare`` or ``validate`` stage may call it).

The planted roles of the demo are defined by the very features the conversation models count
(replies per post, answer-back rates), so recovering them only checks the implementation. With
``demo.reply_trait_correlation`` set, every author carries a hidden trait (true influence) that
drives later *adoptions* of its posts, an outcome no model reads, and replies are only partly
correlated with it. :func:`trait_grid` regenerates the demo at each correlation of
``demo.trait_grid`` (same seed), scores every model on the simulated tables directly (no ingest,
no pseudonyms: simulated people only; ``network_topic`` falls back to plain PageRank without a
topics stage), and reports per model:

* ``auc_trait``: AUC of the score for the top quartile of the hidden trait (0.5 = chance);
* ``spearman_adoptions``: Spearman of the score with adoptions received (the hidden outcome,
  which grows with the number of posts too) and ``spearman_adoption_rate`` with adoptions per
  non-spam post;
* ``auc_roles``: the planted-role AUC (positive vs negative roles), as the validate stage has it.

Where the conversation models' AUC falls towards 0.5 as the correlation goes to 0 shows where
they stop measuring influence and only measure replies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from analysis import schema
from analysis.config import DemoParams
from analysis.demo import DemoDump, generate
from analysis.models.base import Model, Tables

log = logging.getLogger(__name__)


def tables_from_demo(dump: DemoDump) -> Tables:
    """Interim-shaped tables of a demo dump, without ingest (raw ids kept: simulated people only).

    Mirrors what ``ingest`` does to the shape of the tables, without pseudonymising: drops
    handles and display names, merges non-participants into the placeholder, fills
    ``reply_to_account_id`` from the parent's author and ``is_participant`` (authored at
    least one post). Used by the hidden-trait check and by tests; never published.
    """
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


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None without both classes."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = stats.rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def trait_check(
    dump: DemoDump,
    models: Mapping[str, Model],
    model_params: Any,
    positive_roles: Iterable[str] = ("expert", "conversationalist"),
    negative_roles: Iterable[str] = ("gamer", "broadcaster"),
    top_share: float = 0.25,
) -> pl.DataFrame:
    """One row per model: ``model, auc_trait, spearman_adoptions, spearman_adoption_rate,
    auc_roles, n_accounts``.

    Scores at the last post + 1 s; accounts are the demo's participants with a trait.
    """
    tables = tables_from_demo(dump)
    as_of = tables.posts["created_at"].max() + timedelta(seconds=1)
    truth = dump.truth_accounts.filter(~pl.col("is_nonparticipant"))
    if "trait" not in truth.columns:
        raise ValueError("trait_check: the demo has no hidden trait (set reply_trait_correlation)")
    received = dump.truth_adoptions.group_by("source_account_id").agg(n_adoptions=pl.len())
    n_posts = (
        dump.truth_posts.filter(~pl.col("is_low_value"))
        .group_by("account_id")
        .agg(n_posts=pl.len())
    )
    truth = (
        truth.join(
            received.rename({"source_account_id": "account_id"}), on="account_id", how="left"
        )
        .join(n_posts, on="account_id", how="left")
        .with_columns(pl.col("n_adoptions", "n_posts").fill_null(0))
        .with_columns(adoption_rate=pl.col("n_adoptions") / pl.max_horizontal("n_posts", 1))
    )
    cut = truth["trait"].quantile(1 - top_share, "linear")
    pos, neg = set(positive_roles), set(negative_roles)
    rows = []
    for name, module in models.items():
        scored = module.score(tables, model_params, as_of).join(truth, on="account_id")
        score = scored["score"].to_numpy()
        in_roles = scored["role"].is_in(list(pos | neg)).to_numpy()
        rho = stats.spearmanr(score, scored["n_adoptions"].to_numpy()).statistic
        rho_rate = stats.spearmanr(score, scored["adoption_rate"].to_numpy()).statistic
        rows.append(
            dict(
                model=name,
                auc_trait=auc(score, (scored["trait"] >= cut).to_numpy()),
                spearman_adoptions=None if np.isnan(rho) else float(rho),
                spearman_adoption_rate=None if np.isnan(rho_rate) else float(rho_rate),
                auc_roles=auc(
                    score[in_roles], scored["role"].is_in(list(pos)).to_numpy()[in_roles]
                ),
                n_accounts=scored.height,
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "auc_trait": pl.Float64,
            "spearman_adoptions": pl.Float64,
            "spearman_adoption_rate": pl.Float64,
            "auc_roles": pl.Float64,
            "n_accounts": pl.Int64,
        },
    )


def trait_grid(
    demo: DemoParams,
    models: Mapping[str, Model],
    model_params: Any,
    correlations: Iterable[float] | None = None,
) -> pl.DataFrame:
    """:func:`trait_check` at every reply-trait correlation (``demo.trait_grid`` by default),
    each on a demo regenerated with that correlation and the same seed.

    Returns:
        ``reply_trait_correlation`` and the columns of :func:`trait_check`, one row per
        (correlation, model).
    """
    frames = []
    for rho in correlations if correlations is not None else demo.trait_grid:
        started = time.perf_counter()
        dump = generate(demo.model_copy(update={"reply_trait_correlation": float(rho)}))
        frames.append(
            trait_check(dump, models, model_params).with_columns(
                reply_trait_correlation=pl.lit(float(rho))
            )
        )
        log.info(
            "hidden-trait check at correlation %.2f: %d models in %.1f s",
            rho,
            len(models),
            time.perf_counter() - started,
        )
    return pl.concat(frames).select(
        "reply_trait_correlation", pl.exclude("reply_trait_correlation")
    )


def grid_json(grid: pl.DataFrame) -> dict[str, dict[str, dict[str, float | None]]]:
    """compare.json shape: model -> correlation (as text) -> {auc_trait, spearman_adoptions,
    spearman_adoption_rate, auc_roles}."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in grid.iter_rows(named=True):
        out.setdefault(row["model"], {})[f"{row['reply_trait_correlation']:g}"] = {
            "auc_trait": row["auc_trait"],
            "spearman_adoptions": row["spearman_adoptions"],
            "spearman_adoption_rate": row["spearman_adoption_rate"],
            "auc_roles": row["auc_roles"],
        }
    return out
