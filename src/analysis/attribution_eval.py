"""Ground-truth checks of topic attribution (stage ``topic_eval``; the attribution is in
``attribution``, stage ``topics``).

Reads the ``account_topics`` rows, the posts' primary topics and, on the demo, the planted
truth; on Stack Exchange the answers' tags. Returns the dicts ``analysis.contracts.TopicEval``
holds (``demo``, ``answer_tags``).

The answer-tag check is out of sample: tags are never read by the topic fit (the texts are
title and body), and the tag a topic stands for is chosen, for each answerer, from the posts
of the threads that answerer never wrote in (:func:`leave_out_top_labels`), so an answerer's
own threads never label the topics they are scored on. Every precision comes with a bootstrap
interval over answerers and is set against a trivial baseline: the site's most common tags.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from analysis.config import Frozen
from analysis.topics_clustering import OUTLIER


class TopicEvalParams(Frozen):
    """``topic_eval``: the check of topic attribution against ground truth (stage
    ``topic_eval``). A section of its own: the stages that fit and score never read it, so a
    change here re-runs the check alone."""

    #: The answer-tag check evaluates at most this many answerers with truth: above it a
    #: key-free seeded sample (:func:`sample_answerers`); its cost grows with answerers x
    #: threads (12 s and 3 GiB at 1M synthetic posts, all 47,447 answerers). None: all.
    max_answerers: int | None = Field(5000, ge=2)
    #: Seed of that sample and of the bootstrap intervals.
    seed: int = 42


def topic_majority(post_topic: pl.DataFrame, post_label: pl.DataFrame) -> pl.DataFrame:
    """``topic_id`` -> ``label``: the most frequent truth label of the topic's posts."""
    return (
        post_topic.join(post_label, on="post_id", how="inner")
        .filter((pl.col("topic_id") != OUTLIER) & pl.col("label").is_not_null())
        .group_by("topic_id", "label")
        .len()
        .sort(["topic_id", "len", "label"], descending=[False, True, False])
        .group_by("topic_id", maintain_order=True)
        .first()
        .select("topic_id", "label")
    )


def evaluate_demo(
    attribution: pl.DataFrame,
    post_topic: pl.DataFrame,
    truth_accounts: pl.DataFrame,
    truth_posts: pl.DataFrame,
) -> dict:
    """Planted-truth checks of both methods on the demo.

    * ``one_off_attributed_rate``: share of one-off posters credited with the topic of their
      single off-subject post (when that topic is not one of their planted subjects).
    * ``expert_subject_recall``: share of (planted expert, planted subject) pairs for which the
      expert is credited a topic whose majority subject is that subject.
    * ``precision``: share of all credited (account, topic) pairs whose topic's majority subject
      is one of the account's planted subjects.
    """
    label = topic_majority(
        post_topic, truth_posts.select("post_id", pl.col("subject").alias("label"))
    )
    att = attribution.filter("is_attributed").join(label, on="topic_id", how="left")
    subjects = truth_accounts.select("account_id", "subjects", "role", "is_one_off")
    att = att.join(subjects, on="account_id", how="inner")
    one_off_posts = (
        truth_posts.filter(pl.col("subject") == "dolls")
        .join(post_topic, on="post_id")
        .filter(pl.col("topic_id") != OUTLIER)
        .select("account_id", "topic_id")
        .unique()
    )
    one_off_accounts = truth_accounts.filter("is_one_off")["account_id"]
    out: dict = {
        "n_one_off_accounts": one_off_accounts.len(),
        "n_experts": int((truth_accounts["role"] == "expert").sum()),
    }
    for method in ("naive", "evidence"):
        m = att.filter(pl.col("method") == method)
        wrong = m.join(one_off_posts, on=["account_id", "topic_id"], how="inner").filter(
            pl.col("account_id").is_in(one_off_accounts.implode())
            & ~pl.col("subjects").list.contains(pl.col("label"))
        )
        experts = truth_accounts.filter(pl.col("role") == "expert").explode("subjects")
        hit = experts.join(
            m.select("account_id", pl.col("label").alias("subjects")).unique(),
            on=["account_id", "subjects"],
            how="semi",
        )
        correct = m.filter(pl.col("subjects").list.contains(pl.col("label")))
        out[method] = {
            "one_off_attributed_rate": wrong["account_id"].n_unique()
            / max(one_off_accounts.len(), 1),
            "expert_subject_recall": hit.height / max(experts.height, 1),
            "precision": correct.height / m.height if m.height else None,
            "n_attributions": m.height,
            "single_post_share": float((m["n_posts"] == 1).mean()) if m.height else None,
        }
    return out


def answer_truth(posts: pl.DataFrame) -> pl.DataFrame:
    """Stack Exchange truth: per answerer and tag, the summed positive score of their answers."""
    return (
        posts.select("kind", "account_id", "labels", "score")  # not a copy of every column
        .filter(pl.col("kind") == "answer")
        .select("account_id", pl.col("labels").alias("tag"), pl.col("score").fill_null(0).clip(0))
        .explode("tag")
        .filter(pl.col("tag").is_not_null())
        .group_by("account_id", "tag")
        .agg(weight=pl.col("score").sum())
        .filter(pl.col("weight") > 0)
    )


#: Bootstrap draws of the intervals of :func:`evaluate_tags`.
N_BOOT_TAGS = 2000


def _first_tags(posts: pl.DataFrame) -> pl.DataFrame:
    """``post_id``, ``thread_id`` (``root_post_id``, else the post itself), ``label`` (the
    post's first tag) of the posts with a tag."""
    return posts.select(
        "post_id", _thread(posts), pl.col("labels").list.first().alias("label")
    ).filter(pl.col("label").is_not_null())


def _thread(posts: pl.DataFrame) -> pl.Expr:
    """``thread_id``: the post's ``root_post_id``, else the post itself (a table without the
    column: every post its own thread, so only the account's own posts are left out)."""
    if "root_post_id" in posts.columns:
        return pl.coalesce("root_post_id", "post_id").alias("thread_id")
    return pl.col("post_id").alias("thread_id")


#: Tiers of the number of labels an account touched in a group (:func:`leave_out_top_labels`).
_K_TIERS = (2, 8, 32)


def leave_out_top_labels(
    counts: pl.DataFrame, own: pl.DataFrame, wanted: pl.DataFrame, by: list[str], m: int
) -> pl.DataFrame:
    """For each ``wanted`` row (``account_id`` and ``by``), the ``m`` labels with the most posts
    in its group once the posts of the account's own threads are left out (ties to the lower
    label; labels left with no post are none).

    Args:
        counts: ``*by``, ``label``, ``n``: posts per label and group, every thread.
        own: ``account_id``, ``*by``, ``label``, ``n_own``: of those, the posts of the threads
            the account wrote in.
        wanted: ``account_id``, ``*by``.
        m: labels per row.

    Returns:
        ``account_id``, ``*by``, ``label``, ``n`` (posts left), ``pos`` (1..m).

    Exact without the whole (account, label) product: a label the account never touched keeps
    its count, so the best ``m`` of those are among the group's top (labels it touched + m).
    """
    key = ["account_id", *by]
    # only the wanted rows' own counts are read (the topics' call wants the credited pairs)
    own = own.join(wanted.select(key).unique(), on=key, how="semi")
    order = pl.struct(-pl.col("n"), "label").rank("ordinal")
    ranked = counts.with_columns(_r=order.over(by) if by else order)
    touched = own.group_by(key).agg(_k=pl.len().cast(pl.Int64))
    want = wanted.select(key).unique().join(touched, on=key, how="left")
    want = want.with_columns(pl.col("_k").fill_null(0))
    site = by or ["_scope"]
    if not by:  # a join needs a key: one scope for the whole site
        want, ranked = want.with_columns(_scope=pl.lit(0)), ranked.with_columns(_scope=pl.lit(0))
    # the group's top (_k + m) labels of each row: rows joined in tiers of _k, each to the labels
    # its tier can need, not every row to every label (at 1M posts, 250k credited pairs x 50
    # labels per topic were 12.5M rows for a few per row)
    tiers, lo = [], -1
    for hi in (*_K_TIERS, None):
        tier = (
            want.filter(pl.col("_k") > lo)
            if hi is None
            else want.filter((pl.col("_k") > lo) & (pl.col("_k") <= hi))
        )
        if tier.height:
            limit = int(tier["_k"].max()) + m  # type: ignore[arg-type]
            tiers.append(
                tier.join(ranked.filter(pl.col("_r") <= limit), on=site, how="inner")
                .filter(pl.col("_r") <= pl.col("_k") + m)
                .select(*key, "label", "n")
            )
        if hi is None:
            break
        lo = hi
    if not tiers:  # nothing wanted: the empty frame of the right columns
        tiers.append(want.join(ranked, on=site, how="inner").select(*key, "label", "n"))
    top = pl.concat(tiers)
    mine = (
        want.select(key)
        .join(own.select(*key, "label"), on=key, how="inner")
        .join(counts, on=[*by, "label"], how="inner")
        .select(*key, "label", "n")
    )
    # one lazy query on the streaming engine: the candidates, their own counts and the sort
    # are never all held at once (at 1M posts the stage's peak was here)
    return (
        pl.concat([top.lazy(), mine.lazy()])
        .unique([*key, "label"])
        .join(own.lazy(), on=[*key, "label"], how="left")
        .with_columns(n=pl.col("n") - pl.col("n_own").fill_null(0))
        .filter(pl.col("n") > 0)
        .sort(*key, pl.col("n"), "label", descending=[False] * len(key) + [True, False])
        .with_columns(pos=pl.int_range(1, pl.len() + 1).over(key))
        .filter(pl.col("pos") <= m)
        .select(*key, "label", "n", "pos")
        .collect(engine="streaming")
    )


def sample_answerers(
    answerers: pl.DataFrame, posts: pl.DataFrame, n: int, seed: int
) -> pl.DataFrame:
    """``n`` rows of ``answerers`` (``account_id``, ...): those whose posts' times hash lowest.

    Each answerer's key is the smallest seeded hash of its posts' times: the same people under
    any pseudonymisation key and any row order (a pseudonym or a row number would not be), and
    as good as a random draw for a sample. Ties (two answerers with the same smallest hash: the
    same post time) are kept together, so the sample may hold a few more than ``n``.
    """
    keyed = (
        posts.select("account_id", "created_at")  # the semi-join copies what it keeps
        .join(answerers.select("account_id"), on="account_id", how="semi")
        .group_by("account_id")
        .agg(_h=pl.col("created_at").dt.epoch("us").hash(seed).min())
    )
    cut = keyed["_h"].sort()[n - 1]
    return answerers.join(keyed.filter(pl.col("_h") <= cut), on="account_id", how="semi")


def _own_counts(
    tagged: pl.DataFrame, by: list[str], accounts: pl.DataFrame, posts: pl.DataFrame
) -> pl.DataFrame:
    """``account_id``, ``*by``, ``label``, ``n_own``: posts of ``tagged`` (``thread_id``,
    ``*by``, ``label``) in the threads each of ``accounts`` wrote in."""
    threads = (
        posts.select("account_id", _thread(posts))
        .join(accounts.select("account_id").unique(), on="account_id", how="semi")
        .unique()
    )
    per_thread = tagged.group_by("thread_id", *by, "label").agg(n=pl.len().cast(pl.Int64))
    # polars' streaming engine: the (account, thread) x (thread, group, label) join is never
    # held whole (at 1M posts, 5,000 sampled answerers: 6M rows, +0.6 GiB eager, +0.1 streamed;
    # the same sums, rows in another order, which the callers sort)
    return (
        threads.lazy()
        .join(per_thread.lazy(), on="thread_id", how="inner")
        .group_by("account_id", *by, "label")
        .agg(n_own=pl.col("n").sum())
        .collect(engine="streaming")
    )


def _interval(values: np.ndarray, seed: int, level: float, n_boot: int) -> list[float] | None:
    """Percentile bootstrap interval of the mean of ``values`` (sorted first: the draws do not
    depend on the order, i.e. on the pseudonyms); None under two values."""
    if len(values) < 2:
        return None
    v = np.sort(values)
    rng = np.random.default_rng(seed)
    n = len(v)
    means = np.concatenate(
        [
            v[rng.integers(0, n, size=(min(64, n_boot - i), n))].mean(axis=1)
            for i in range(0, n_boot, 64)
        ]
    )
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def evaluate_tags(
    attribution: pl.DataFrame,
    post_topic: pl.DataFrame,
    posts: pl.DataFrame,
    k: int = 3,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = N_BOOT_TAGS,
    max_answerers: int | None = None,
) -> dict:
    """Precision@k and MAP of both methods against answer tags weighted by score, with
    bootstrap intervals over answerers, against a trivial baseline, and the two methods
    compared on the same answerers at the same list length.

    A topic stands for its most frequent first tag among the posts of the threads the scored
    answerer never wrote in (:func:`leave_out_top_labels`): labelled with every post, a
    prolific answerer's own threads chose the tag they were then scored against. An answerer's
    credited list is the labels of its attributed topics by rank, each label once (its best
    rank; equal ranks by label). P@k = relevant among the top k credited labels / k, a missing
    slot a miss, over answerers with truth credited at least one topic; MAP uses the number of
    relevant tags as denominator (standard AP). ``*_common`` restricts both methods to the
    answerers the evidence method credits. ``*_interval``: percentile bootstrap over answerers
    (width ``level``, ``n_boot`` draws, ``seed``).

    Over ``max_answerers`` answerers with truth, a sample of that many is evaluated
    (:func:`sample_answerers`: key-free, seeded): the leave-out counts grow with answerers x
    threads (at 1M synthetic posts, 50,000 answerers: 12 s and 3 GiB of the topics stage, every
    run), and the intervals say what the sample leaves uncertain.

    Baseline ``popular_tags``: every answerer credited the site's k most common first tags
    (left out: its own threads), no topic at all. ``vs_popular`` compares each method with it
    on the answerers the method credits, both lists cut to the method's length n = min(k, its
    labels), precision = hits / n (:func:`paired_comparison`): a method whose difference is not
    above zero tells a reader nothing the site's tag counts do not.

    The evidence method credits few topics: ``paired_at_evidence_length`` compares the two
    methods at the same cut-off on the answerers evidence credits (both cut to the evidence
    list's length).
    """
    tags = _first_tags(posts)
    truth = answer_truth(posts).select("account_id", pl.col("tag").alias("label"), hit=pl.lit(True))
    n_rel = truth.group_by("account_id").agg(n_rel=pl.len())
    n_with_truth = n_rel.height
    if max_answerers is not None and n_with_truth > max_answerers:
        n_rel = sample_answerers(n_rel, posts, max_answerers, seed)
    who = ["method", "account_id"]
    credited = (
        attribution.filter("is_attributed")
        .select("method", "account_id", "topic_id", "rank")
        .join(n_rel, on="account_id", how="inner")  # answerers with truth only
    )
    topical = tags.join(post_topic, on="post_id", how="inner").filter(pl.col("topic_id") != OUTLIER)
    label = leave_out_top_labels(
        topical.group_by("topic_id", "label").agg(n=pl.len().cast(pl.Int64)),
        _own_counts(topical, ["topic_id"], n_rel, posts),
        credited.select("account_id", "topic_id"),
        ["topic_id"],
        1,
    ).select("account_id", "topic_id", "label")
    ranked = (
        credited.join(label, on=["account_id", "topic_id"], how="inner")
        .join(truth, on=["account_id", "label"], how="left")
        .sort(*who, "rank", "label")
        .unique([*who, "label"], keep="first", maintain_order=True)
        .with_columns(
            hit=pl.col("hit").fill_null(False),
            pos=pl.int_range(1, pl.len() + 1).over(who),
        )
        .with_columns(hits=pl.col("hit").cast(pl.Int64).cum_sum().over(who))
    )
    per = (
        ranked.group_by(who)
        .agg(
            p_at_k=(pl.col("hit") & (pl.col("pos") <= k)).sum() / k,
            ap=(pl.when(pl.col("hit")).then(pl.col("hits") / pl.col("pos")).otherwise(0.0)).sum()
            / pl.col("n_rel").first(),
            n_labels=pl.len(),
        )
        .sort(who)
    )
    common = per.filter(pl.col("method") == "evidence")["account_id"].implode()
    # the baseline: the site's k most common first tags, each answerer's own threads left out
    popular = (
        leave_out_top_labels(
            tags.group_by("label").agg(n=pl.len().cast(pl.Int64)),
            _own_counts(tags, [], n_rel, posts),
            n_rel.select("account_id"),
            [],
            k,
        )
        .join(truth, on=["account_id", "label"], how="left")
        .with_columns(hit=pl.col("hit").fill_null(False))
    )
    pop_per = (
        n_rel.select("account_id")
        .join(
            popular.group_by("account_id").agg(p_at_k=pl.col("hit").sum() / k),
            on="account_id",
            how="left",
        )
        .with_columns(pl.col("p_at_k").fill_null(0.0))
    )

    def mean(values: pl.Series) -> float | None:
        return float(np.mean(values.to_numpy())) if values.len() else None

    def interval(values: pl.Series) -> list[float] | None:
        return _interval(values.cast(pl.Float64).to_numpy(), seed, level, n_boot)

    out: dict = {
        "n_answerers_with_truth": n_with_truth,
        "n_answerers_evaluated": n_rel.height,
        "topic_labels": "leave-threads-out",
        "interval": level,
        "n_boot": n_boot,
        "seed": seed,
    }
    out["popular_tags"] = {
        f"precision_at_{k}": mean(pop_per["p_at_k"]),
        f"precision_at_{k}_interval": interval(pop_per["p_at_k"]),
        "n_answerers": pop_per.height,
    }
    out["vs_popular"] = {}
    for method in ("naive", "evidence"):
        mine = per.filter(pl.col("method") == method)
        shared = mine.filter(pl.col("account_id").is_in(common))
        m = attribution.filter((pl.col("method") == method) & pl.col("is_attributed"))
        out[method] = {
            f"precision_at_{k}": mean(mine["p_at_k"]),
            f"precision_at_{k}_interval": interval(mine["p_at_k"]),
            "map": mean(mine["ap"]),
            "map_interval": interval(mine["ap"]),
            f"precision_at_{k}_common": mean(shared["p_at_k"]),
            "map_common": mean(shared["ap"]),
            "n_answerers_credited": mine.height,
            "single_post_attribution_rate": float((m["n_posts"] == 1).mean()) if m.height else None,
        }
        # the method against the baseline at the method's own list length, same answerers
        cut = mine.select("account_id", cut=pl.min_horizontal(pl.col("n_labels"), pl.lit(k)))
        own_hits = (
            ranked.filter(pl.col("method") == method)
            .join(cut, on="account_id", how="inner")
            .group_by("account_id")
            .agg(hits=(pl.col("hit") & (pl.col("pos") <= pl.col("cut"))).sum())
        )
        pop_hits = (
            popular.join(cut, on="account_id", how="inner")
            .group_by("account_id")
            .agg(pop=(pl.col("hit") & (pl.col("pos") <= pl.col("cut"))).sum())
        )
        both = cut.join(own_hits, on="account_id", how="left").join(
            pop_hits, on="account_id", how="left"
        )
        out["vs_popular"][method] = paired_comparison(
            _column(both, "hits") / both["cut"].to_numpy(),
            _column(both, "pop") / both["cut"].to_numpy(),
            seed,
            level,
            n_boot,
            names=(method, "popular"),
        )
    cut = per.filter(pl.col("method") == "evidence").select(
        "account_id", cut=pl.min_horizontal(pl.col("n_labels"), pl.lit(k))
    )
    pairs = (
        ranked.join(cut, on="account_id", how="inner")
        .group_by(who)
        .agg(hits=(pl.col("hit") & (pl.col("pos") <= pl.col("cut"))).sum(), cut=pl.first("cut"))
        .pivot(on="method", index="account_id", values="hits")
        .join(cut, on="account_id", how="inner")
    )
    out["paired_at_evidence_length"] = paired_comparison(
        _column(pairs, "evidence") / pairs["cut"].to_numpy(),
        _column(pairs, "naive") / pairs["cut"].to_numpy(),
        seed,
        level,
        n_boot,
    )
    return out


def _column(df: pl.DataFrame, name: str) -> np.ndarray:
    """``df[name]`` as floats, nulls (and an absent column) as 0: a method that credits an
    answerer nothing has no hit in any slot."""
    if name not in df.columns:
        return np.zeros(df.height)
    return df[name].fill_null(0).cast(pl.Float64).to_numpy()


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    seed: int,
    level: float,
    n_boot: int,
    names: tuple[str, str] = ("evidence", "naive"),
) -> dict[str, float | int | None]:
    """Means of the paired values ``a`` and ``b`` (keyed by ``names``), their mean difference
    ``a - b`` and its percentile bootstrap interval over pairs (``n_boot`` draws, width
    ``level``, ``seed``).

    The pairs are put in the order of their values first: the draws depend on the values and
    the seed only, not on the order (pseudonyms) they came in.
    """
    order = np.lexsort((b, a, a - b))
    a, b = a[order], b[order]
    n = len(a)
    res: dict[str, float | int | None] = {
        "n_answerers": n,
        names[0]: float(a.mean()) if n else None,
        names[1]: float(b.mean()) if n else None,
        "difference": float((a - b).mean()) if n else None,
        "ci_low": None,
        "ci_high": None,
        "interval": level,
        "n_boot": n_boot,
        "seed": seed,
    }
    if n >= 2:
        d = a - b
        rng = np.random.default_rng(seed)
        means = np.concatenate(
            [  # a block of draws at a time: n_boot x n indices at once would be GiBs at 1M
                d[rng.integers(0, n, size=(min(64, n_boot - i), n))].mean(axis=1)
                for i in range(0, n_boot, 64)
            ]
        )
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        res["ci_low"], res["ci_high"] = float(lo), float(hi)
    return res
