"""Which topics an account is credited with, and with what evidence (stage ``topics``).

Reads the interim posts and reactions and the posts' primary topics; returns
``account_topics`` rows for two methods:

* ``naive``: any post in a topic counts (what Klout did: one Barbie post made you an expert);
  ranked by number of posts.
* ``evidence``: at least ``min_posts`` posts in the topic that each drew a reply or reaction
  from another participant (``n_engaged_posts``: a post nobody else answered, or only its author
  did, is no evidence of influence; posts in the topic without response still count in the rate's
  exposure) and at least ``min_engagers`` distinct other participants who replied to or reacted
  to those posts. Engagement is
  repliers per post (``n_replies``: each post's distinct other repliers, summed; one person's
  back-and-forth under a post is one) relative to the topic's baseline, shrunk toward the topic mean with a
  gamma-Poisson empirical-Bayes prior (method of moments per topic), with a credible interval.
  Ranked by expected repliers in the topic (posts x shrunk rate).

Only participants are ever attributed; the non-participant placeholder never is. The ground
truth evaluation (demo roles, Stack Exchange answer tags) is at the bottom.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special

from analysis.schema import NONPARTICIPANT_ID
from analysis.topics import TopicsParams
from analysis.topics_clustering import OUTLIER

#: Cap of the prior's shape: when accounts of a topic do not differ beyond Poisson noise the
#: moment estimate of the between-account variance is <= 0; a prior worth 100 posts is "very sure".
MAX_PRIOR_POSTS = 100.0


def engagements(
    posts: pl.DataFrame,
    reactions: pl.DataFrame,
    participants: pl.Series,
    targets: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per engagement with a post by someone other than its author.

    Args:
        targets: the posts that count (``post_id``, ``account_id``: the author, and any
            columns to carry along, e.g. the post's topic); default every post. An engagement
            with a post not among them is left out (one join: the authors and the carried
            columns at once).

    Returns:
        ``post_id``, ``engager_account_id``, ``is_reply``, ``account_id`` (the post's author)
        and the targets' other columns; engagers are participants only (replies by the
        placeholder or anonymous votes carry no identity to count).
    """
    if targets is None:
        targets = posts.select("post_id", "account_id")
    replies = (
        posts.filter(pl.col("parent_post_id").is_not_null())
        .select(
            pl.col("parent_post_id").alias("post_id"),
            pl.col("account_id").alias("engager_account_id"),
        )
        .with_columns(is_reply=pl.lit(True))
    )
    reacts = (
        reactions.filter(pl.col("actor_account_id").is_not_null())
        .select("post_id", pl.col("actor_account_id").alias("engager_account_id"))
        .with_columns(is_reply=pl.lit(False))
    )
    return (
        pl.concat([replies, reacts])
        .join(targets, on="post_id", how="inner")
        .filter(
            (pl.col("engager_account_id") != pl.col("account_id"))
            & pl.col("engager_account_id").is_in(participants.implode())
            & (pl.col("engager_account_id") != NONPARTICIPANT_ID)
        )
    )


def _gamma_prior(y: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Method-of-moments gamma prior (shape, rate) of per-account rates y/n in one topic."""
    total_n = n.sum()
    mean = y.sum() / total_n if total_n else 0.0
    mean = max(mean, 1e-3)  # a topic nobody replies to still needs a proper prior
    rates = y / n
    var_w = float(np.sum(n * (rates - mean) ** 2) / total_n) if total_n else 0.0
    tau2 = var_w - mean * len(n) / total_n  # between-account variance beyond Poisson noise
    shape = mean**2 / tau2 if tau2 > 0 else float("inf")
    shape = min(shape, mean * MAX_PRIOR_POSTS)  # prior worth at most MAX_PRIOR_POSTS posts
    return shape, shape / mean


def _gamma_ppf(q: float, shape: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Quantile ``q`` (0 < q < 1) of gamma(``shape``, ``rate``): ``scipy.stats.gamma.ppf(q,
    shape, scale=1 / rate)`` bit for bit (the same special function and arithmetic; NaN where
    a parameter is not positive), without importing scipy.stats (~1.5 s of the ``topics``
    stage)."""
    ok = (shape > 0) & (rate > 0)
    x = special.gammaincinv(np.where(ok, shape, 1.0), q) * (1 / np.where(ok, rate, 1.0)) + 0.0
    return np.where(ok, x, np.nan)


def attribute(
    posts: pl.DataFrame,
    reactions: pl.DataFrame,
    accounts: pl.DataFrame,
    post_topic: pl.DataFrame,
    p: TopicsParams,
) -> pl.DataFrame:
    """Both methods' attribution rows for every (participant, topic) with at least one post.

    Args:
        posts: interim posts (``post_id``, ``account_id``, ``parent_post_id``).
        reactions: interim reactions (``post_id``, ``actor_account_id``).
        accounts: interim accounts (``account_id``, ``is_participant``).
        post_topic: ``post_id``, ``topic_id`` (primary topic; -1 = outlier).
        p: thresholds and interval width.

    Returns:
        ``method``, ``account_id``, ``topic_id``, ``n_posts``, ``n_engaged_posts`` (posts in the
        topic with a reply or reaction by another participant), ``n_engagers``, ``n_replies``,
        ``estimate`` (distinct repliers per post relative to the topic mean: 1 = typical), ``ci_low``,
        ``ci_high`` (null for naive), ``is_attributed``, ``rank`` (1 = strongest, attributed only).
    """
    participants = accounts.filter(
        pl.col("is_participant") & (pl.col("account_id") != NONPARTICIPANT_ID)
    )["account_id"]
    topical = (
        posts.select("post_id", "account_id")
        .join(post_topic, on="post_id", how="inner")
        .filter(pl.col("topic_id") != OUTLIER)
    )
    # the engaged post's author and topic in one join: the author is the credited account
    eng = engagements(
        posts, reactions, participants, topical.select("post_id", "account_id", "topic_id")
    )
    # rows in the output's order (account, then topic) from here on: the two methods' blocks,
    # evidence then naive, concatenate to the sorted output without a sort of the whole table
    # one engager counts once per post and kind: ten replies of one person under one post are
    # one replier there (the gate counts distinct engagers; the rate now agrees with it)
    eng = eng.unique(["post_id", "engager_account_id", "is_reply"])
    per_pair = (
        topical.group_by("account_id", "topic_id")
        .agg(n_posts=pl.len().cast(pl.Int64))
        .join(
            eng.group_by("account_id", "topic_id").agg(
                n_engaged_posts=pl.col("post_id").n_unique().cast(pl.Int64),
                n_engagers=pl.col("engager_account_id").n_unique(),
                n_replies=pl.col("is_reply").sum().cast(pl.Int64),
            ),
            on=["account_id", "topic_id"],
            how="left",
        )
        .with_columns(
            pl.col("n_engaged_posts", "n_engagers", "n_replies").fill_null(0).cast(pl.Int64)
        )
        .filter(pl.col("account_id").is_in(participants.implode()))
        .sort("account_id", "topic_id")
    )
    # each topic's prior from its pairs in account order (the sums' order fixes their bits),
    # then every pair's posterior elementwise
    priors = []
    for (topic,), grp in per_pair.partition_by(
        "topic_id", as_dict=True, maintain_order=True
    ).items():
        shape, rate = _gamma_prior(
            grp["n_replies"].to_numpy().astype(float), grp["n_posts"].to_numpy().astype(float)
        )
        priors.append((topic, shape, rate, shape / rate))
    prior = pl.DataFrame(
        priors,
        schema={
            "topic_id": per_pair.schema["topic_id"],
            "_shape": pl.Float64,
            "_rate": pl.Float64,
            "_mean": pl.Float64,
        },
        orient="row",
    )
    at = per_pair.select("topic_id").join(prior, on="topic_id", how="left", maintain_order="left")
    mean = at["_mean"].to_numpy()
    a = at["_shape"].to_numpy() + per_pair["n_replies"].to_numpy().astype(float)
    b = at["_rate"].to_numpy() + per_pair["n_posts"].to_numpy().astype(float)
    q = (1 - p.interval) / 2
    evidence = per_pair.with_columns(
        method=pl.lit("evidence"),
        estimate=pl.Series(a / b / mean, dtype=pl.Float64),
        ci_low=pl.Series(_gamma_ppf(q, a, b) / mean, dtype=pl.Float64),
        ci_high=pl.Series(_gamma_ppf(1 - q, a, b) / mean, dtype=pl.Float64),
    )
    # posts that drew no response from another participant are no evidence: three posts of
    # which one drew two repliers were credited on the strength of that one post (beer, session
    # 39: 60 of 332 evidence attributions rested on a single post that anyone answered)
    attributed = (pl.col("n_engaged_posts") >= p.min_posts) & (
        pl.col("n_engagers") >= p.min_engagers
    )
    if p.min_ci_low is not None:
        attributed = attributed & (pl.col("ci_low") >= p.min_ci_low)
    evidence = evidence.with_columns(
        is_attributed=attributed, _score=pl.col("n_posts") * pl.col("estimate")
    )
    topic_mean = per_pair.group_by("topic_id").agg(
        _mean=pl.col("n_replies").sum() / pl.col("n_posts").sum()
    )
    naive = (
        per_pair.join(topic_mean, on="topic_id", how="left", maintain_order="left")
        .with_columns(
            method=pl.lit("naive"),
            estimate=(pl.col("n_replies") / pl.col("n_posts") / pl.col("_mean")).fill_nan(None),
            ci_low=pl.lit(None, pl.Float64),
            ci_high=pl.lit(None, pl.Float64),
            is_attributed=pl.lit(True),
            _score=pl.col("n_posts").cast(pl.Float64),
        )
        .drop("_mean")
    )
    cols = [
        "method",
        "account_id",
        "topic_id",
        "n_posts",
        "n_engaged_posts",
        "n_engagers",
        "n_replies",
        "estimate",
        "ci_low",
        "ci_high",
        "is_attributed",
    ]
    # "evidence" sorts before "naive": the blocks in this order are sorted by method, account
    # and topic. rank: 1 = the account's strongest attributed topic (ties to the lower topic
    # id), null where not attributed
    return (
        pl.concat([evidence.select(*cols, "_score"), naive.select(*cols, "_score")])
        .with_columns(
            rank=pl.when("is_attributed")
            .then(pl.struct(-pl.col("_score"), "topic_id"))
            .rank("ordinal")
            .over("method", "account_id")
            .cast(pl.Int64)
        )
        .drop("_score")
    )


# ---------------------------------------------------------------------------- evaluation
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
        posts.filter(pl.col("kind") == "answer")
        .select("account_id", pl.col("labels").alias("tag"), pl.col("score").fill_null(0).clip(0))
        .explode("tag")
        .filter(pl.col("tag").is_not_null())
        .group_by("account_id", "tag")
        .agg(weight=pl.col("score").sum())
        .filter(pl.col("weight") > 0)
    )


#: Bootstrap draws of the paired comparison of :func:`evaluate_tags`.
N_BOOT_TAGS = 2000


def evaluate_tags(
    attribution: pl.DataFrame,
    post_topic: pl.DataFrame,
    posts: pl.DataFrame,
    k: int = 3,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = N_BOOT_TAGS,
) -> dict:
    """Precision@k and MAP of both methods against answer tags weighted by score, and the two
    methods compared on the same answerers at the same list length.

    A topic stands for its most frequent first tag. An answerer's credited list is the labels
    of its attributed topics by rank, each label once (its best rank; equal ranks by label).
    P@k = relevant among the top k credited labels / k, a missing slot a miss, over answerers
    with truth credited at least one topic; MAP uses the number of relevant tags as denominator
    (standard AP). ``*_common`` restricts both methods to the answerers the evidence method
    credits, so they are compared on the same people.

    The evidence method credits few topics (beer: 44 of 85 answerers one): dividing by
    min(k, n) scored it as P@1 against naive's P@3. ``paired_at_evidence_length`` compares
    the two at the same cut-off on those answerers: both lists cut to the evidence list's
    length n = min(k, its labels), precision = hits / n (:func:`paired_comparison`: the
    means, ``n_answerers``, the difference (evidence - naive) with
    a percentile bootstrap interval of width ``level`` over answerers, ``n_boot`` draws,
    ``seed``). The per-answerer pairs are resampled in the order of their values, not of
    pseudonyms, so the interval does not depend on the key.

    In polars, one pass for both methods (a loop over dictionaries per answerer took 1.5 s of
    the ``topics`` stage at 1M posts).
    """
    first_tag = posts.select("post_id", pl.col("labels").list.first().alias("label"))
    label = topic_majority(post_topic, first_tag)
    truth = answer_truth(posts).select("account_id", pl.col("tag").alias("label"), hit=pl.lit(True))
    n_rel = truth.group_by("account_id").agg(n_rel=pl.len())
    who = ["method", "account_id"]
    ranked = (
        attribution.filter("is_attributed")
        .select("method", "account_id", "topic_id", "rank")
        .join(label, on="topic_id", how="inner")
        .join(n_rel, on="account_id", how="inner")  # answerers with truth only
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

    def mean(values: pl.Series) -> float | None:
        return float(np.mean(values.to_numpy())) if values.len() else None

    out: dict = {"n_answerers_with_truth": n_rel.height}
    for method in ("naive", "evidence"):
        mine = per.filter(pl.col("method") == method)
        shared = mine.filter(pl.col("account_id").is_in(common))
        m = attribution.filter((pl.col("method") == method) & pl.col("is_attributed"))
        out[method] = {
            f"precision_at_{k}": mean(mine["p_at_k"]),
            "map": mean(mine["ap"]),
            f"precision_at_{k}_common": mean(shared["p_at_k"]),
            "map_common": mean(shared["ap"]),
            "n_answerers_credited": mine.height,
            "single_post_attribution_rate": float((m["n_posts"] == 1).mean()) if m.height else None,
        }
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
    a: np.ndarray, b: np.ndarray, seed: int, level: float, n_boot: int
) -> dict[str, float | int | None]:
    """Means of the paired values ``a`` and ``b``, their mean difference ``a - b`` and its
    percentile bootstrap interval over pairs (``n_boot`` draws, width ``level``, ``seed``).

    The pairs are put in the order of their values first: the draws depend on the values and
    the seed only, not on the order (pseudonyms) they came in.
    """
    order = np.lexsort((b, a, a - b))
    a, b = a[order], b[order]
    n = len(a)
    res: dict[str, float | int | None] = {
        "n_answerers": n,
        "evidence": float(a.mean()) if n else None,
        "naive": float(b.mean()) if n else None,
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
