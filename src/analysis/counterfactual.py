"""Stage ``compare``: counterfactual re-scoring of every model (pure functions, no I/O).

Each test alters the interim tables for a few accounts, re-runs the model functions on the
altered :class:`~analysis.models.base.Tables` (all else equal) and compares each altered
account's 0-100 score (``score_pct``) with its baseline:

* **weekend off**: the account's own posts on Saturday and Sunday (UTC: the dumps carry no
  time zone) are removed, replies it wrote included;
* **time off**: the same for the ``vacation_days`` just before the scoring date;
* **gaming**: extra low-value posts (+50 %, +100 %, +400 % of its own number of posts), copies of
  the timing of its real posts, drawing no replies and no reactions;
* **reaction ring**: a handful of accounts reply to and like each other's posts.

With ``drop_responses`` (default), what others wrote in reply to a removed post goes too (a
reply to a post never written cannot exist), and so do reactions on removed posts.

Why batches. The faithful counterfactual alters one account and re-scores everyone: O(n) model
runs. Altering everyone at once is cheap but wrong: percentiles are relative, so when everyone
takes weekends off nobody moves. We alter a random sample (``n_sample``, ``seed``) in batches of
``batch_share`` of the participants (5 %): each batch member is compared with its own baseline,
and the other 95 % anchor the percentile scale, so a batch member's change is close to what it
would be alone (the approximation: members of one batch shift each other's percentiles by at
most a batch's share, and those who reply to each other lose each other's replies).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl

from analysis.models.base import Tables

log = logging.getLogger(__name__)

Transform = Callable[[Tables, list[str]], Tables]


# ---------------------------------------------------------------------------------------------
# Table transforms


def descendants(posts: pl.DataFrame, post_ids: pl.Series | Sequence[str]) -> pl.Series:
    """Every post below ``post_ids`` in their reply trees (the posts themselves excluded)."""
    frontier = pl.Series("post_id", list(post_ids), dtype=pl.String)
    links = posts.select("post_id", "parent_post_id").filter(pl.col("parent_post_id").is_not_null())
    found: list[pl.Series] = []
    while frontier.len():
        children = links.filter(pl.col("parent_post_id").is_in(frontier.implode()))["post_id"]
        if found:
            seen = pl.concat(found)
            children = children.filter(~children.is_in(seen.implode()))
        if not children.len():
            break
        found.append(children)
        frontier = children
    return pl.concat(found) if found else pl.Series("post_id", [], dtype=pl.String)


def remove_posts(tables: Tables, post_ids: pl.Series, drop_responses: bool = True) -> Tables:
    """Tables without ``post_ids`` (and, with ``drop_responses``, their reply subtrees and the
    reactions on every removed post)."""
    removed = post_ids
    if drop_responses:
        removed = pl.concat([post_ids, descendants(tables.posts, post_ids)])
    gone = removed.implode()
    reactions = tables.reactions
    if drop_responses:
        reactions = reactions.filter(~pl.col("post_id").is_in(gone))
    return replace(
        tables, posts=tables.posts.filter(~pl.col("post_id").is_in(gone)), reactions=reactions
    )


def weekend_off(tables: Tables, account_ids: Sequence[str], drop_responses: bool = True) -> Tables:
    """The accounts are silent on Saturdays and Sundays (UTC): their weekend posts are removed."""
    ids = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids)) & (pl.col("created_at").dt.weekday() >= 6)
    )["post_id"]
    return remove_posts(tables, ids, drop_responses)


def time_off(
    tables: Tables,
    account_ids: Sequence[str],
    start: datetime,
    end: datetime,
    drop_responses: bool = True,
) -> Tables:
    """The accounts are silent in ``[start, end)``: their posts in it are removed."""
    ids = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids))
        & (pl.col("created_at") >= start)
        & (pl.col("created_at") < end)
    )["post_id"]
    return remove_posts(tables, ids, drop_responses)


def inject_posts(
    tables: Tables, account_ids: Sequence[str], multiplier: float, as_of: datetime, seed: int
) -> Tables:
    """Add ``round(multiplier * n)`` low-value posts per account, ``n`` its posts before ``as_of``.

    Each extra post copies the time (minus up to an hour) and the follower count of one of the
    account's own posts drawn at random, so the extra volume has the same age profile as the
    real one and the decay-weighted volume grows by the same share. Extra posts start nothing:
    no parent, no replies, no reactions (``n_likes = n_reposts = score = 0``), no views recorded,
    and no topic (low-value text belongs to none of the community's subjects).
    """
    rng = np.random.default_rng(seed)
    own = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids)) & (pl.col("created_at") < as_of)
    ).sort("post_id")
    pieces = []
    for _, group in own.group_by("account_id", maintain_order=True):
        n_extra = round(multiplier * group.height)
        if n_extra == 0:
            continue
        pick = rng.integers(0, group.height, n_extra)
        jitter = rng.integers(1, 3600, n_extra)
        pieces.append(
            group[pick]
            .with_columns(_jitter_s=pl.Series(jitter, dtype=pl.Int64))
            .with_columns(
                created_at=pl.col("created_at") - pl.duration(seconds=pl.col("_jitter_s")),
            )
            .drop("_jitter_s")
        )
    if not pieces:
        return tables
    extra = pl.concat(pieces)
    extra = extra.with_columns(
        post_id=pl.format("cf_spam_{}", pl.int_range(0, pl.len())),
        kind=pl.lit("post"),
        parent_post_id=pl.lit(None, dtype=pl.String),
        root_post_id=pl.lit(None, dtype=pl.String),
        reply_to_account_id=pl.lit(None, dtype=pl.String),
        text=pl.lit("low-value post"),
        n_views=pl.lit(None, dtype=pl.Int64),
        score=pl.lit(0, dtype=pl.Int64),
        n_likes=pl.lit(0, dtype=pl.Int64),
        n_reposts=pl.lit(0, dtype=pl.Int64),
        n_comments_reported=pl.lit(0, dtype=pl.Int64),
        labels=pl.lit(None, dtype=tables.posts.schema["labels"]),
    ).select(tables.posts.columns)
    return tables.with_posts(pl.concat([tables.posts, extra]))


def reaction_ring(
    tables: Tables,
    members: Sequence[str],
    as_of: datetime,
    replies_per_pair: int,
    likes_per_pair: int,
) -> Tables:
    """The members reply to and like each other's recent posts (before ``as_of``).

    For every ordered pair (a, b): a replies once to each of b's ``replies_per_pair`` latest
    posts that start something, an hour after them (or just before ``as_of``), and likes b's
    ``likes_per_pair`` latest posts half an hour after them; the platform's like totals grow
    accordingly.
    """
    posts = tables.posts.filter(pl.col("created_at") < as_of)
    latest = posts.sort("created_at", descending=True)
    last_seen = {aid: latest.filter(pl.col("account_id") == aid) for aid in members}
    replies, likes = [], []
    for a in members:
        follower = last_seen[a]["follower_count"][0] if last_seen[a].height else None
        for b in members:
            if a == b:
                continue
            roots = last_seen[b].filter(pl.col("parent_post_id").is_null()).head(replies_per_pair)
            for row in roots.iter_rows(named=True):
                when = min(row["created_at"] + timedelta(hours=1), as_of - timedelta(seconds=1))
                replies.append(
                    dict(
                        post_id=f"cf_ring_{len(replies)}",
                        platform=row["platform"],
                        account_id=a,
                        kind="reply",
                        parent_post_id=row["post_id"],
                        root_post_id=row["root_post_id"] or row["post_id"],
                        reply_to_account_id=b,
                        created_at=when,
                        text="ring reply",
                        n_views=None,
                        score=0,
                        n_likes=0,
                        n_reposts=0,
                        n_comments_reported=0,
                        follower_count=follower,
                        labels=None,
                    )
                )
            for row in last_seen[b].head(likes_per_pair).iter_rows(named=True):
                when = min(row["created_at"] + timedelta(minutes=30), as_of - timedelta(seconds=1))
                likes.append(
                    dict(
                        reaction_id=f"cf_like_{len(likes)}",
                        platform=row["platform"],
                        post_id=row["post_id"],
                        kind="like",
                        created_at=when,
                        actor_account_id=a,
                    )
                )
    new_posts, topics = tables.posts, tables.post_topics
    if replies:
        reply_df = pl.DataFrame(replies, schema=tables.posts.schema)
        new_posts = pl.concat([new_posts, reply_df])
        if topics is not None:
            # A ring reply is about what it answers: it inherits its parent's topics, so that
            # topic-sensitive models see it as the topics stage would.
            inherited = (
                reply_df.select("post_id", "parent_post_id")
                .join(topics.rename({"post_id": "parent_post_id"}), on="parent_post_id")
                .select(topics.columns)
            )
            topics = pl.concat([topics, inherited])
    reactions = tables.reactions
    if likes:
        like_df = pl.DataFrame(likes, schema=tables.reactions.schema)
        reactions = pl.concat([reactions, like_df])
        bumps = like_df.group_by("post_id").agg(_bump=pl.len().cast(pl.Int64))
        new_posts = (
            new_posts.join(bumps, on="post_id", how="left")
            .with_columns(
                n_likes=pl.col("n_likes") + pl.col("_bump").fill_null(0),
                score=pl.col("score") + pl.col("_bump").fill_null(0),
            )
            .drop("_bump")
        )
    return replace(tables, posts=new_posts, reactions=reactions, post_topics=topics)


# ---------------------------------------------------------------------------------------------
# Re-scoring


def sample_accounts(tables: Tables, n: int, seed: int, as_of: datetime) -> list[str]:
    """A seeded random sample of participants with at least one post before ``as_of``."""
    active = (
        tables.participants()
        .select("account_id")
        .join(
            tables.posts.filter(pl.col("created_at") < as_of).select("account_id").unique(),
            on="account_id",
        )
        .sort("account_id")["account_id"]
        .to_list()
    )
    rng = np.random.default_rng(seed)
    take = min(n, len(active))
    return sorted(rng.choice(active, size=take, replace=False).tolist()) if take else []


def batches(ids: list[str], n_participants: int, share: float, seed: int) -> list[list[str]]:
    """Split ``ids`` into shuffled batches of ``max(1, floor(share * n_participants))``."""
    size = max(1, int(share * n_participants))
    order = list(np.random.default_rng(seed).permutation(len(ids)))
    shuffled = [ids[i] for i in order]
    return [shuffled[i : i + size] for i in range(0, len(shuffled), size)]


def rescore(
    tables: Tables,
    models: dict[str, ModuleType],
    params: Any,
    as_of: datetime,
    groups: list[list[str]],
    transform: Transform,
    baseline: dict[str, pl.DataFrame],
    label: str,
) -> pl.DataFrame:
    """Alter each group of accounts in turn, re-score every model, and keep the group's rows.

    Returns:
        ``model, account_id, score_base, score_cf, pct_base, pct_cf`` (one row per model and
        altered account).
    """
    rows = []
    started = time.perf_counter()
    for i, group in enumerate(groups):
        cf = transform(tables, group)
        for name, module in models.items():
            scored = module.score(cf, params, as_of).filter(pl.col("account_id").is_in(group))
            rows.append(
                baseline[name]
                .filter(pl.col("account_id").is_in(group))
                .select(
                    "account_id",
                    pl.col("score").alias("score_base"),
                    pl.col("score_pct").alias("pct_base"),
                )
                .join(
                    scored.select(
                        "account_id",
                        pl.col("score").alias("score_cf"),
                        pl.col("score_pct").alias("pct_cf"),
                    ),
                    on="account_id",
                )
                .with_columns(model=pl.lit(name))
            )
        log.debug("%s: batch %d/%d done", label, i + 1, len(groups))
    log.info(
        "%s: %d accounts in %d batches x %d models re-scored in %.1f s",
        label,
        sum(map(len, groups)),
        len(groups),
        len(models),
        time.perf_counter() - started,
    )
    if not rows:
        return pl.DataFrame(
            schema={
                "model": pl.String,
                "account_id": pl.String,
                "score_base": pl.Float64,
                "score_cf": pl.Float64,
                "pct_base": pl.Float64,
                "pct_cf": pl.Float64,
            }
        )
    return pl.concat(rows).select(
        "model", "account_id", "score_base", "score_cf", "pct_base", "pct_cf"
    )


def relative_change(floor_pct: float) -> pl.Expr:
    """(pct_cf - pct_base) / max(pct_base, floor_pct): the relative change of score_pct."""
    return (pl.col("pct_cf") - pl.col("pct_base")) / pl.max_horizontal(
        pl.col("pct_base"), pl.lit(floor_pct)
    )


def shift_summary(changes: pl.DataFrame, floor_pct: float) -> dict[str, dict[str, Any]]:
    """Per model: median and p90 of |relative change| of score_pct, the signed median, and n."""
    df = changes.with_columns(rel=relative_change(floor_pct)).with_columns(
        abs_rel=pl.col("rel").abs()
    )
    out = {}
    for name, g in df.group_by("model", maintain_order=True):
        out[name[0]] = {
            "n_accounts": g.height,
            "median_abs": g["abs_rel"].median(),
            "p90_abs": g["abs_rel"].quantile(0.9, "linear"),
            "median": g["rel"].median(),
            "share_falling": (g["rel"] < 0).mean(),
        }
    return out


def gaming_summary(by_multiplier: dict[float, pl.DataFrame], floor_pct: float) -> dict[str, dict]:
    """Per model: median relative change of score_pct per multiplier and the volume elasticity.

    ``volume_elasticity``: per account, the least-squares slope through the origin of the
    relative change of score_pct on the relative change of volume (the multiplier), then the
    median across accounts. ``raw_log_elasticity``: the same for d log(score) / d log(volume)
    (accounts with a positive score before and after only).
    """
    long = pl.concat(
        [
            df.with_columns(m=pl.lit(float(m)), rel=relative_change(floor_pct))
            for m, df in by_multiplier.items()
        ]
    )
    long = long.with_columns(
        log_ratio=pl.when((pl.col("score_base") > 0) & (pl.col("score_cf") > 0)).then(
            (pl.col("score_cf") / pl.col("score_base")).log()
        ),
        log_m=(1 + pl.col("m")).log(),
    )
    per_account = long.group_by("model", "account_id").agg(
        slope=(pl.col("rel") * pl.col("m")).sum() / (pl.col("m") ** 2).sum(),
        log_slope=(pl.col("log_ratio") * pl.col("log_m")).sum()
        / (pl.col("log_m") ** 2).filter(pl.col("log_ratio").is_not_null()).sum(),
    )
    out: dict[str, dict] = {}
    for (name,), g in per_account.group_by("model", maintain_order=True):
        rel = (
            long.filter(pl.col("model") == name).group_by("m").agg(pl.col("rel").median()).sort("m")
        )
        out[name] = {
            "volume_elasticity": g["slope"].median(),
            "raw_log_elasticity": g["log_slope"].drop_nans().median(),
            "median_rel_change": {f"+{round(100 * m)}%": v for m, v in rel.iter_rows()},
            "n_accounts": g.height,
        }
    return out


def ring_summary(changes: pl.DataFrame, floor_pct: float) -> dict[str, dict[str, Any]]:
    """Per model: median and mean relative gain of score_pct of the ring members."""
    df = changes.with_columns(rel=relative_change(floor_pct))
    return {
        name: {
            "ring_gain": g["rel"].median(),
            "ring_gain_mean": g["rel"].mean(),
            "pct_points_gained_median": (g["pct_cf"] - g["pct_base"]).median(),
            "n_members": g.height,
        }
        for (name,), g in df.group_by("model", maintain_order=True)
    }


def run_all(
    tables: Tables, models: dict[str, ModuleType], params: Any, as_of: datetime, cf: Any
) -> dict[str, Any]:
    """Every counterfactual test for every model (``cf``: ``CounterfactualParams``).

    Returns:
        ``baseline`` (model -> score frame), the per-test change frames (``weekend_off``,
        ``time_off``, ``gaming`` keyed by multiplier, ``ring``), their summaries
        (``summary_*``), the ``sample`` and the ring ``members``.
    """
    baseline = {name: m.score(tables, params, as_of) for name, m in models.items()}
    n_part = tables.participants().height
    sample = sample_accounts(tables, cf.n_sample, cf.seed, as_of)
    groups = batches(sample, n_part, cf.batch_share, cf.seed)
    start = as_of - timedelta(days=cf.vacation_days)
    out: dict[str, Any] = {"baseline": baseline, "sample": sample}
    out["weekend_off"] = rescore(
        tables,
        models,
        params,
        as_of,
        groups,
        lambda t, g: weekend_off(t, g, cf.drop_responses),
        baseline,
        "weekend off",
    )
    out["time_off"] = rescore(
        tables,
        models,
        params,
        as_of,
        groups,
        lambda t, g: time_off(t, g, start, as_of, cf.drop_responses),
        baseline,
        f"{cf.vacation_days:g} days off",
    )
    out["gaming"] = {}
    for k, mult in enumerate(cf.gaming_multipliers):
        out["gaming"][mult] = rescore(
            tables,
            models,
            params,
            as_of,
            groups,
            lambda t, g, mult=mult, k=k: inject_posts(t, g, mult, as_of, cf.seed + 1000 * (k + 1)),
            baseline,
            f"gaming +{100 * mult:g} %",
        )
    members = sample_accounts(tables, cf.ring_size, cf.seed + 1, as_of)
    out["members"] = members
    out["ring"] = rescore(
        tables,
        models,
        params,
        as_of,
        [members],
        lambda t, g: reaction_ring(t, g, as_of, cf.ring_replies_per_pair, cf.ring_likes_per_pair),
        baseline,
        "reaction ring",
    )
    out["summary_weekend_off"] = shift_summary(out["weekend_off"], cf.floor_pct)
    out["summary_time_off"] = shift_summary(out["time_off"], cf.floor_pct)
    out["summary_gaming"] = gaming_summary(out["gaming"], cf.floor_pct) if out["gaming"] else {}
    out["summary_ring"] = ring_summary(out["ring"], cf.floor_pct)
    return out


def robustness_table(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model -> the headline number of each test (what the recommendation gates on)."""
    names = list(result["baseline"])
    get = lambda key, name, field: (result[key].get(name) or {}).get(field)  # noqa: E731
    return {
        name: {
            "weekend_off_median_abs": get("summary_weekend_off", name, "median_abs"),
            "weekend_off_median": get("summary_weekend_off", name, "median"),
            "weekend_off_p90_abs": get("summary_weekend_off", name, "p90_abs"),
            "time_off_median_abs": get("summary_time_off", name, "median_abs"),
            "time_off_median": get("summary_time_off", name, "median"),
            "time_off_p90_abs": get("summary_time_off", name, "p90_abs"),
            "volume_elasticity": get("summary_gaming", name, "volume_elasticity"),
            "ring_gain": get("summary_ring", name, "ring_gain"),
        }
        for name in names
    }
