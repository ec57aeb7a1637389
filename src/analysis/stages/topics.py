"""Stage ``topics``: every post's topics by the fitted rule, topics attributed to accounts.

Reads ``data/processed/topic_model.json`` (stage ``topic_fit``), ``data/interim/{posts,
accounts,reactions}.parquet`` and ``data/processed/embeddings/``; writes
``data/processed/{topics,post_topics,account_topics}.parquet`` and ``reports/metrics/topics.json``
(quality metrics, the fit's freshness, the attribution's counts). The attribution's check
against ground truth (the demo's planted subjects, Stack Exchange answer tags) is the stage
``topic_eval``: an evaluation, which may be frozen on a schedule like ``validate``.

Every post takes its topic from the fit's rule (``topics_clustering.Assigner``): with the fit of
the same posts that is exactly the fit's own labelling (both passes cut their batches at each
month); with a frozen fit (``dvc freeze
topic_fit``) the posts written since join the fitted topics, whose ids and keywords stay.
No text is read. Each month of the embeddings is assigned on its own and kept in a memo
(``data/cache/topics``, ``analysis.topics_months``): with a frozen fit, a re-run assigns the
months whose posts changed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl

from analysis import attribution, contracts, paths, publish, vectors
from analysis.config import PrivacyParams, section
from analysis.contracts import TopicFit
from analysis.embed import EmbedParams, vector_space
from analysis.io import read_contiguous, write_json, write_parquet
from analysis.schema import CATEGORICAL_COLUMNS, POST_NUMBER_COLUMNS, one_post_id_type
from analysis.topics import TopicsParams, agreement, assigner, centroid_matrix, post_vectors
from analysis.topics_clustering import OUTLIER, assign_with_membership
from analysis.topics_keywords import topic_table
from analysis.topics_months import assign_by_month

log = logging.getLogger(__name__)

#: The posts' columns the stage uses: the fit's freshness (``created_at``), the labels'
#: agreement and attribution's engagements (``account_id``, ``parent_post_id``). No text: the
#: order is the embeddings file's.
COLUMNS = ("post_id", "account_id", "parent_post_id", "created_at", "labels")


def compute(
    posts: pl.DataFrame,
    embeddings: pl.DataFrame | Path,
    accounts: pl.DataFrame,
    reactions: pl.DataFrame,
    p: TopicsParams,
    fit: TopicFit,
    space: str | None = None,
    memo: Path | None = None,
) -> dict[str, Any]:
    """Everything the stage writes, as frames and a metrics dict (no I/O but the vectors'
    batches when ``embeddings`` is a path, and then the months' memo in ``memo``:
    ``topics_months``). ``space``: what the embeddings are (``embed.vector_space``); a fit of
    other vectors is refused."""
    if space is not None and space != fit.vectors:
        raise ValueError(
            f"the topic fit ({paths.TOPIC_MODEL}) is of the vectors {fit.vectors}, the embeddings "
            f"are {space}: another model, route or token limit (a dump past "
            "embed.static_above_posts takes the static route); `dvc unfreeze topic_fit && dvc "
            "repro` refits"
        )
    emb, x = post_vectors(posts, embeddings)
    if len(x) and x.dim != fit.dim:
        raise ValueError(
            f"the topic fit holds vectors of {fit.dim} dimensions, the embeddings {x.dim}: "
            "they are of another model; `dvc unfreeze topic_fit && dvc repro` refits"
        )
    data = emb.join(
        posts.select("post_id", "labels"), on="post_id", how="left", maintain_order="left"
    )
    if isinstance(x, vectors.ParquetVectors):  # month by month, each month's batches its own
        done = assign_by_month(x.path, x.order, x.dim, fit, p, memo)
    else:
        done = assign_with_membership(x, assigner(fit), centroid_matrix(fit), p)
    labels, soft = done.labels, done.soft
    log.info("topics: %d posts assigned to the %d fitted topics", len(labels), fit.n_topics)
    # each topic's mean vector (the report's topic map) from this pass: the report reads no
    # vectors (at 1M posts a pass of ~10-15 s)
    topics = topic_table(labels, dict(enumerate(fit.keywords)), (done.topic_ids, done.means))
    post_ids = data["post_id"]
    post_topics = soft.with_columns(post_id=post_ids.gather(soft["row"])).select(
        "post_id", "topic_id", "probability", "is_primary"
    )
    primary = post_topics.filter("is_primary").select("post_id", "topic_id")
    n_embedded = emb.height
    metrics: dict[str, Any] = {
        "method": fit.method,
        "n_posts": posts.height,
        "n_posts_embedded": n_embedded,
        "n_posts_skipped_empty_text": posts.height - n_embedded,
        "n_topics": fit.n_topics,
        "n_outliers": int((labels == OUTLIER).sum()),
        "outlier_share": float((labels == OUTLIER).mean()) if len(labels) else None,
        "vs_labels": agreement(labels, data["labels"].list.first()),
        "stability_mean_pairwise_ari": fit.stability_mean_pairwise_ari,
        "topic_diversity": fit.topic_diversity,
        "mean_topics_per_post": post_topics.height / max(n_embedded, 1),
        "fit": fit_freshness(fit, data["created_at"]),
    }
    # the embedded posts' table (ids, times, labels) is not held through the attribution's
    # joins, the stage's peak (at 10M posts 7.4 GiB before)
    del data, emb, post_ids, soft, done, x
    account_topics = attribution.attribute(posts, reactions, accounts, primary, p)
    metrics |= {
        "attribution": attribution_counts(account_topics),
        # the rule these counts come from: the writeup prints it with them (params.yaml may
        # have changed since this run)
        "attribution_rule": {
            "min_posts": p.min_posts,
            "min_engagers": p.min_engagers,
            "min_ci_low": p.min_ci_low,
            "interval": p.interval,
        },
    }
    return {
        "topics": topics,
        "post_topics": post_topics,
        "account_topics": account_topics,
        "primary": primary,
        "metrics": metrics,
    }


def attribution_counts(account_topics: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Each method's pairs, attributed pairs and attributed accounts (one pass over the table:
    a copy of each method's rows held ~0.4 GiB more at 10M posts)."""
    counts = account_topics.group_by("method").agg(
        n_pairs=pl.len(),
        n_attributed=pl.col("is_attributed").sum(),
        n_accounts_attributed=pl.col("account_id").filter("is_attributed").n_unique(),
    )
    by_method = {row.pop("method"): row for row in counts.iter_rows(named=True)}
    empty = {"n_pairs": 0, "n_attributed": 0, "n_accounts_attributed": 0}
    return {
        m: {k: int(v) for k, v in by_method.get(m, empty).items()} for m in ("naive", "evidence")
    }


def fit_freshness(fit: TopicFit, created_at: pl.Series) -> dict[str, Any]:
    """What the fit saw against the posts assigned (``created_at`` of the embedded posts):
    ``n_posts_after_fit`` counts those written after the fit's latest post (0 unless
    ``topic_fit`` is frozen, or run on other data; a post backfilled with an earlier time is
    not counted there, only in ``n_posts_assigned - n_posts_fitted``)."""
    after = created_at.len()
    if fit.fitted_through is not None:
        then = pl.Series([fit.fitted_through]).str.to_datetime(time_unit="us")
        zone = getattr(created_at.dtype, "time_zone", None)
        if getattr(then.dtype, "time_zone", None) is not None:
            then = then.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        if zone is not None:
            then = then.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
        after = int((created_at > then[0]).sum())
    return {
        "vectors": fit.vectors,
        "n_posts_fitted": fit.n_posts,
        "n_posts_assigned": created_at.len(),
        "n_posts_after_fit": after,
        "fitted_through": fit.fitted_through,
        "n_sample_outliers": fit.n_sample_outliers,
        "n_sample_outliers_assigned": fit.n_sample_outliers_assigned,
        # the report compares it with ingest's current one (a frozen fit, an account removed
        # since: its keywords may rest on that account's posts)
        "removed_accounts_sha256": fit.removed_accounts_sha256,
        # the k its (published) keywords were chosen at: the report refuses a smaller one
        "min_cell_k": fit.min_cell_k,
    }


def read_tables() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The posts' :data:`COLUMNS`, the accounts and the reactions, their ids, platforms and
    kinds as categoricals (``schema.CATEGORICAL_COLUMNS``, as the score stage holds them; the
    files written keep strings: ``io.write_parquet``), the post ids as the 64-bit numbers of
    their pseudonyms where every one is a pseudonym (``schema.POST_NUMBER_COLUMNS``). At 10M
    posts the ids as categoricals took the stage's peak 5.96 -> 4.37 GiB (the joins and
    group-bys of the assignment's ids and the attribution move 32-bit codes; with the account
    ids alone as categoricals 5.19 GiB, with every post id as its row number 5.3 GiB; session
    57), though polars' one mapping of the 10M post ids holds ~1.1 GiB against ~0.37 GiB for
    their column as strings; the post ids as numbers, 3.96-4.05 -> 3.41 GiB (session 61)."""
    frames = {
        table: read_contiguous(
            path, columns, CATEGORICAL_COLUMNS[table], POST_NUMBER_COLUMNS[table]
        )
        for table, path, columns in (
            ("posts", paths.POSTS, COLUMNS),  # those read are cast
            ("accounts", paths.ACCOUNTS, None),
            ("reactions", paths.REACTIONS, None),
        )
    }
    frames = {k: v for k, v in one_post_id_type(frames).items() if v is not None}
    return frames["posts"], frames["accounts"], frames["reactions"]


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Assign and attribute; write the four outputs (the check against ground truth is the
    stage ``topic_eval``)."""
    p = section(params, "topics", TopicsParams)
    priv = section(params, "privacy", PrivacyParams)
    for path in (paths.POSTS, paths.EMBEDDINGS):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run ingest and embed first")
    try:
        fit = contracts.load(TopicFit, paths.TOPIC_MODEL)
    except ValueError as exc:  # a fit frozen by an earlier version of topic_fit
        raise ValueError(
            f"{exc}\nA topic fit frozen by another version of the topic_fit stage: "
            "`dvc unfreeze topic_fit && dvc repro` refits"
        ) from exc
    posts, accounts, reactions = read_tables()
    space = vector_space(section(params, "embed", EmbedParams), posts.height)
    out = compute(posts, paths.EMBEDDINGS, accounts, reactions, p, fit, space, paths.TOPICS_CACHE)
    metrics = out["metrics"]
    freshness = metrics["fit"]
    # reports/metrics is tracked by git: times leave the machine coarsened
    freshness["fitted_through"] = publish.coarsen_time(
        freshness["fitted_through"], priv.time_resolution
    )
    if freshness["n_posts_after_fit"]:
        log.warning(
            "topics: the fit (%s) has not seen %d of the %d posts assigned to its topics; "
            "`dvc unfreeze topic_fit && dvc repro` refits",
            paths.TOPIC_MODEL,
            freshness["n_posts_after_fit"],
            freshness["n_posts_assigned"],
        )
    for name, path in paths.TOPIC_TABLES.items():
        write_parquet(out[name], path)
    # reports/metrics is tracked by git (published): no count of fewer than k accounts, nor
    # one that gives such a group away beside another (196 credited by naive, 195 by evidence:
    # the 1 account evidence credits with no topic), as the writeup prints them
    raw_attribution = metrics["attribution"]
    n_part = int(accounts["is_participant"].sum())
    metrics["attribution"] = publish.attribution_counts(
        raw_attribution, priv.min_cell_k, n_part if n_part >= priv.min_cell_k else None
    )
    write_json(metrics, paths.TOPICS_METRICS)
    log.info(
        "topics: %d posts -> %d topics (%s), outliers %.1f %% (%d), NMI %.3f, "
        "stability %.3f; attributed pairs naive %d, evidence %d",
        metrics["n_posts_embedded"],
        metrics["n_topics"],
        fit.method,
        100 * (metrics["outlier_share"] or 0),
        metrics["n_outliers"],
        metrics["vs_labels"]["nmi"] or float("nan"),
        metrics["stability_mean_pairwise_ari"] or float("nan"),
        raw_attribution["naive"]["n_attributed"],
        raw_attribution["evidence"]["n_attributed"],
    )
    return 0
