"""Stage ``topic_eval``: the topics attributed to accounts, checked against ground truth.

Reads ``data/processed/{account_topics,post_topics}.parquet`` (stage ``topics``), the posts'
ids, authors, threads, kinds, scores, times and tags (``data/interim/posts.parquet``, no text),
the accounts (the demo's truth under the current pseudonyms) and ingest's digest of the
removed accounts. Writes ``data/processed/topic_eval.json``
(:class:`analysis.contracts.TopicEval`, read by the report) and its published headline
``reports/metrics/topic_eval.json`` (statistics over fewer than ``privacy.min_cell_k`` planted
accounts or answerers hidden).

Two checks, each where its truth exists: the demo's planted subjects
(``attribution_eval.evaluate_demo``) and a Stack Exchange site's answer tags, out of sample,
with bootstrap intervals and a popular-tags baseline (``attribution_eval.evaluate_tags``).

The method's evaluation, apart from the topics it evaluates: the ``topics`` stage assigns and
attributes on every run, this one may be frozen with ``validate`` and ``compare`` (``dvc
freeze topic_eval``) and re-run on a schedule; the report then says the date it evaluated and
the params edited since (the result records its ``topic_eval`` and ``topics`` sections), and
refuses a result computed with an account removed since (``report.freshness``).
"""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from typing import Any

import polars as pl

from analysis import attribution_eval, contracts, groundtruth, paths, publish
from analysis.attribution_eval import TopicEvalParams
from analysis.config import PrivacyParams, params_record, section
from analysis.contracts import TopicEval
from analysis.io import read_json, write_json

log = logging.getLogger(__name__)

#: The posts' columns the checks read: authors, threads (the tags a topic stands for leave the
#: answerer's own threads out), kinds and scores (the answer-tag truth), times (the sample's
#: key-free draw and the date evaluated) and tags. No text.
COLUMNS = ("post_id", "account_id", "kind", "root_post_id", "created_at", "score", "labels")


def evaluate(
    posts: pl.DataFrame,
    account_topics: pl.DataFrame,
    primary: pl.DataFrame,
    p: TopicEvalParams,
    truth: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> TopicEval:
    """Both checks where their truth exists (pure: no I/O).

    Args:
        posts: :data:`COLUMNS` of the interim posts.
        account_topics: the ``topics`` stage's attribution (both methods).
        primary: ``post_id``, ``topic_id``: each post's primary topic.
        p: the check's params (the tag check's seed and sample size).
        truth: the demo's planted truth (accounts, posts) under the current pseudonyms.
    """
    last = posts["created_at"].max() if posts.height else None
    as_of = (last + timedelta(seconds=1)).isoformat() if last is not None else None
    demo = (
        attribution_eval.evaluate_demo(account_topics, primary, *truth)
        if truth is not None
        else None
    )
    tags = (
        attribution_eval.evaluate_tags(
            account_topics, primary, posts, seed=p.seed, max_answerers=p.max_answerers
        )
        if (posts["kind"] == "answer").any()
        else None
    )
    return TopicEval(as_of=as_of, n_posts=posts.height, demo=demo, answer_tags=tags)


def headline(result: TopicEval, k: int) -> dict[str, Any]:
    """What ``reports/metrics/topic_eval.json`` publishes (tracked by git): the checks, each
    statistic over fewer than ``k`` planted accounts or answerers hidden with its count."""
    out: dict[str, Any] = {"n_posts": result.n_posts}
    if result.demo is not None:
        out["ground_truth_demo"] = publish.demo_truth_counts(result.demo, k)
    if result.answer_tags is not None:
        out["ground_truth_answer_tags"] = publish.answer_tag_counts(result.answer_tags, k)
    return out


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Check the topics' attribution against the truth there is; write both outputs."""
    p = section(params, "topic_eval", TopicEvalParams)
    priv = section(params, "privacy", PrivacyParams)
    for path in (paths.POSTS, paths.ACCOUNT_TOPICS, paths.POST_TOPICS):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run ingest and topics first")
    posts = pl.read_parquet(paths.POSTS, columns=list(COLUMNS))
    account_topics = pl.read_parquet(paths.ACCOUNT_TOPICS)
    primary = (
        pl.read_parquet(paths.POST_TOPICS, columns=["post_id", "topic_id", "is_primary"])
        .filter("is_primary")
        .drop("is_primary")
    )
    truth = None
    if groundtruth.has_truth(params):
        accounts = pl.read_parquet(paths.ACCOUNTS)
        truth = groundtruth.load_truth(params, accounts)
    result = evaluate(posts, account_topics, primary, p, truth)
    removed = (
        read_json(paths.INGEST_METRICS).get("removed_accounts_sha256")
        if paths.INGEST_METRICS.exists()
        else None
    )
    result = result.model_copy(
        # the report names what differs now (a frozen stage); topics: the attribution rule it
        # checks (account_topics), which the dates do not tell apart after an edit
        update={
            "removed_accounts_sha256": removed,
            "params": params_record(params, ("topic_eval", "topics")),
            # the k its published headline hides smaller groups at (the report refuses a
            # frozen result of a smaller k than the current one)
            "min_cell_k": priv.min_cell_k,
        }
    )
    contracts.write(result, paths.TOPIC_EVAL)
    write_json(headline(result, priv.min_cell_k), paths.TOPIC_EVAL_METRICS)
    tags = result.answer_tags or {}
    log.info(
        "topic_eval: %d posts; demo truth %s; answer tags %s",
        result.n_posts,
        "checked" if result.demo is not None else "absent",
        f"{tags.get('n_answerers_evaluated') or tags.get('n_answerers_with_truth')} answerers"
        if tags
        else "absent (no answers)",
    )
    return 0
