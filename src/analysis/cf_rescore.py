"""Stage ``compare``: the re-scoring behind the counterfactual tests (pure functions).

:func:`sample_accounts` draws the altered accounts in a key-independent order and
:func:`batches` splits them; :func:`rescore_many` alters each batch (a :data:`Transform`),
re-scores every model on the altered tables through the compute engine (one
:func:`rescore_group` task per batch) and keeps the batch's rows, each altered score ranked
against everyone else's frozen baseline (:func:`frozen_percentile`). The scenarios and
adversaries that alter the tables, and what is read from the rows, are in
:mod:`analysis.counterfactual`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analysis import schema
from analysis.adversaries import key_free_order
from analysis.compute import Engine, LocalEngine
from analysis.models import circle_delta, common
from analysis.models.base import Model, Tables

log = logging.getLogger(__name__)

#: How a test alters the tables for a group of accounts.
Transform = Callable[[Tables, list[str]], Tables]


def sample_accounts(
    tables: Tables,
    n: int,
    seed: int,
    as_of: datetime,
    window_days: float | None = None,
    min_posts: int = 1,
) -> list[str]:
    """A seeded random sample of participants with at least ``min_posts`` posts in the
    ``window_days`` before ``as_of`` (any time before it when None).

    Candidates are ordered by first post time and content, never by pseudonym, so the same
    people are drawn under any pseudonymisation key; the sample keeps that order.
    """
    since = as_of - timedelta(days=window_days) if window_days is not None else None
    recent = tables.posts.filter(pl.col("created_at") < as_of)
    if since is not None:
        recent = recent.filter(pl.col("created_at") >= since)
    counts = dict(recent.group_by("account_id").len().iter_rows())
    active = [a for a in key_free_order(tables, as_of) if counts.get(a, 0) >= min_posts]
    take = min(n, len(active))
    if not take:
        return []
    picked = np.sort(np.random.default_rng(seed).choice(len(active), size=take, replace=False))
    return [active[int(i)] for i in picked]


def frozen_percentile(base: np.ndarray, own_base: float, value: float) -> float:
    """0-100 percentile of ``value`` among the baseline scores ``base`` (sorted) of everyone but
    the account itself (its own baseline ``own_base`` left out), average ties, as
    :func:`analysis.models.base.percentile` ranks. Scores within 1e-9 (relative) tie."""
    n = base.size
    if n < 2:
        return 50.0
    tol = 1e-9 * max(1.0, abs(value))
    lo = int(np.searchsorted(base, value - tol, "left"))
    hi = int(np.searchsorted(base, value + tol, "right"))
    less, equal = lo, hi - lo
    if own_base < value - tol:
        less -= 1
    elif own_base <= value + tol:
        equal -= 1
    return 100.0 * (less + 0.5 * equal) / (n - 1)


def batch_size(n_participants: int, share: float | None) -> int:
    """Accounts altered per re-scoring: ``max(1, floor(share * n_participants))``; 1 (each
    account alone) where ``share`` is None."""
    return 1 if share is None else max(1, int(share * n_participants))


def batches(ids: list[str], n_participants: int, share: float | None, seed: int) -> list[list[str]]:
    """Split ``ids`` into shuffled batches of :func:`batch_size` (of one: each alone)."""
    size = batch_size(n_participants, share)
    order = list(np.random.default_rng(seed).permutation(len(ids)))
    shuffled = [ids[i] for i in order]
    return [shuffled[i : i + size] for i in range(0, len(shuffled), size)]


def unchanged(altered: Tables, tables: Tables) -> bool:
    """True where ``altered`` holds the very tables of ``tables`` (the same rows in the same
    order; a scenario that found nothing to take returns them so)."""
    if altered is tables:
        return True
    frames = ("accounts", "posts", "reactions", "post_topics")
    for name in frames:
        a, b = getattr(altered, name), getattr(tables, name)
        if a is b:
            continue
        if a is None or b is None or not a.equals(b):
            return False
    return altered.totals_at == tables.totals_at


def rescore_group(
    task: tuple[Transform, list[str]],
    tables: Tables,
    models: Mapping[str, Model],
    params: Any,
    as_of: datetime,
    baseline: dict[str, pl.DataFrame],
    frozen: dict[str, np.ndarray],
) -> pl.DataFrame:
    """Alter one group of accounts, re-score every model, and keep the group's rows.

    One task of the compute engine (pure: the same task gives the same frame anywhere).
    ``baseline``: each model's scores, ids as strings (:func:`rescore_many` casts them once).

    Returns:
        One row per model and altered account, columns :data:`RESCORE_SCHEMA`, models in
        ``models`` order and accounts in the group's (key-independent) order.
    """
    transform, group = task
    cf = transform(tables, group)
    removed = own_posts_removed(tables, cf, group, as_of)
    if unchanged(cf, tables):
        # nothing to take (a weekend off of an account with no weekend posts): the models are
        # functions of the tables, so the altered scores are the baseline's, without a re-scoring
        # (demo: 61 of the 500 stability re-scorings)
        scored_by = {n: baseline[n] for n in models}
    else:
        # the altered copy is final: its date-free annotation once for every model, as the score
        # stage does, not once in each model's scoping (1M posts: the 26 re-scorings 189-190 ->
        # 173-174 s, the same rows; peak +2 %, the four columns it adds)
        cf = cf.with_posts(common.annotate(cf.posts))
        # conversation_eb's circle counts updated from the graph kept (the baseline's on the
        # local engine), not listed again (``circle_delta``: the same bits; at 1M posts a
        # re-scoring's median 1.1-1.6 s less)
        with circle_delta.reusing():
            scored_by = {
                n: schema.ids_as_strings(module.score(cf, params, as_of))
                for n, module in models.items()
            }
    del cf
    if not scored_by:
        return pl.DataFrame(schema=RESCORE_SCHEMA)
    no_band = pl.lit(None, dtype=pl.Int64)
    base_rows, cf_rows = [], []
    # every model's rows in one frame each side, then one join (nine small joins cost more)
    for k, (name, scored) in enumerate(scored_by.items()):
        base = baseline[name]
        # a model that publishes a band (conversation_eb): did the published band move?
        band = "band" in base.columns and "band" in scored.columns
        base_rows.append(
            base.select(
                "account_id",
                _m=pl.lit(k, dtype=pl.Int64),
                model=pl.lit(name, dtype=pl.String),
                score_base=pl.col("score").cast(pl.Float64),
                pct_base=pl.col("score_pct").cast(pl.Float64),
                score_se=pl.col("score_se").cast(pl.Float64),
                band_base=pl.col("band").cast(pl.Int64) if band else no_band,
            )
        )
        cf_rows.append(
            scored.select(
                "account_id",
                _m=pl.lit(k, dtype=pl.Int64),
                score_cf=pl.col("score").cast(pl.Float64),
                pct_cf=pl.col("score_pct").cast(pl.Float64),
                band_cf=pl.col("band").cast(pl.Int64) if band else no_band,
            )
        )
    # rows in the models' order, then the group's own (key-independent) order, not by
    # pseudonym, so that the bootstrap draws the same accounts under any key
    order = pl.DataFrame(
        {"account_id": list(group), "_o": range(len(group))},
        schema={"account_id": pl.String, "_o": pl.Int64},
    )
    joined = (
        pl.concat(base_rows)
        .join(order, on="account_id")
        .join(pl.concat(cf_rows), on=["_m", "account_id"])
        .join(removed, on="account_id", how="left")
        .sort("_m", "_o")
    )
    triples = list(
        zip(joined["model"], joined["score_base"].fill_null(0.0), joined["score_cf"], strict=True)
    )
    pct_frozen = [frozen_percentile(frozen[name], b, c) for name, b, c in triples]
    # the baseline ranked by the very same rule: an unchanged score gains exactly nothing (the
    # model's own score_pct ties exactly, the frozen rule within 1e-9: a score of 1e-12 from old,
    # decayed activity sat 24 points apart under the two rules)
    pct_base_frozen = [frozen_percentile(frozen[name], b, b) for name, b, _ in triples]
    return joined.with_columns(
        pct_frozen=pl.Series(pct_frozen, dtype=pl.Float64),
        pct_base_frozen=pl.Series(pct_base_frozen, dtype=pl.Float64),
    ).select(list(RESCORE_SCHEMA))


def own_posts_removed(
    tables: Tables, altered: Tables, group: list[str], as_of: datetime
) -> pl.DataFrame:
    """``account_id, own_posts_removed``: per account of ``group``, its posts before ``as_of``
    in ``tables`` less those in ``altered``. A scenario's placebo is compared with it on the
    accounts where both took as many (``counterfactual.run_all``): with ``drop_responses`` a
    removed post takes the replies below it, the account's own follow-ups included."""
    mine = pl.col("account_id").is_in(list(group)) & (pl.col("created_at") < as_of)

    def counts(t: Tables) -> pl.DataFrame:
        own = t.posts.select("account_id", "created_at").filter(mine)
        return schema.ids_as_strings(own.group_by("account_id").len())

    base = pl.DataFrame({"account_id": list(group)}, schema={"account_id": pl.String})
    if altered is tables:
        return base.with_columns(own_posts_removed=pl.lit(0, dtype=pl.Int64))
    before = counts(tables).rename({"len": "_b"})
    after = counts(altered).rename({"len": "_a"})
    return (
        base.join(before, on="account_id", how="left")
        .join(after, on="account_id", how="left")
        .select(
            "account_id",
            own_posts_removed=(pl.col("_b").fill_null(0) - pl.col("_a").fill_null(0)).cast(
                pl.Int64
            ),
        )
    )


def frozen_scores(baseline: dict[str, pl.DataFrame]) -> dict[str, np.ndarray]:
    """Each model's baseline scores, sorted (what :func:`frozen_percentile` ranks against)."""
    return {
        name: np.sort(b["score"].fill_null(0.0).to_numpy().astype(float))
        for name, b in baseline.items()
    }


class Progress:
    """``fn`` that logs, after the first of ``n`` calls, every tenth and the last, how many are
    done, the time spent since ``started`` and the time left at that pace (the first call's
    line is the first estimate from a re-scoring itself: at 100k posts the plan's, from the
    baseline scoring with its one-time costs, said 23 min for 12). The local engine's loop
    only: on a cluster the calls run elsewhere (and a closure would travel with every task)."""

    def __init__(self, fn: Callable[..., pl.DataFrame], n: int, started: float) -> None:
        self.fn, self.n, self.started, self.done = fn, n, started, 0
        self.every = max(1, n // 10)

    def __call__(self, *args: Any, **kwargs: Any) -> pl.DataFrame:
        out = self.fn(*args, **kwargs)
        self.done += 1
        if self.done == 1 or self.done % self.every == 0 or self.done == self.n:
            spent = time.perf_counter() - self.started
            log.info(
                "re-scored %d of %d in %s; about %s left",
                self.done,
                self.n,
                duration(spent),
                duration(spent / self.done * (self.n - self.done)),
            )
        return out


def rescore_many(
    tables: Tables,
    models: Mapping[str, Model],
    params: Any,
    as_of: datetime,
    jobs: list[tuple[list[list[str]], Transform, str]],
    baseline: dict[str, pl.DataFrame],
    engine: Engine | None = None,
    baseline_seconds: float | None = None,
) -> list[pl.DataFrame]:
    """Run every (groups, transform, label) job; one :func:`rescore_group` task per group.

    All groups of all jobs go to the engine in one map (the local engine loops over them), so a
    cluster works on every scenario at once; the frames come back per job, groups in order.
    ``baseline_seconds``: how long the baseline scoring of ``models`` took; the plan's log line
    then says what the re-scorings will cost at that pace, before the first one runs.
    """
    started = time.perf_counter()
    tasks = [(transform, group) for groups, transform, _ in jobs for group in groups]
    log.info(
        "%d tests: %d re-scorings of %d models to run (%d altered accounts; engine %s)%s",
        len(jobs),
        len(tasks),
        len(models),
        sum(len(group) for _, group in tasks),
        "local" if engine is None else engine.name,
        "" if baseline_seconds is None else planned_cost(len(tasks), baseline_seconds),
    )
    # the baseline's ids as the re-scoring's rows carry them (strings), once for every task
    baseline = {name: schema.ids_as_strings(b) for name, b in baseline.items()}
    local = engine is None or isinstance(engine, LocalEngine)
    frames = (engine or LocalEngine()).map(
        # on the local engine (a loop here) the log says how far it is and how long is left:
        # one account a re-scoring is ~800 re-scorings of seconds each at 1M posts
        Progress(rescore_group, len(tasks), started) if local else rescore_group,
        tasks,
        tables=tables,
        models=models,
        params=params,
        as_of=as_of,
        baseline=baseline,
        frozen=frozen_scores(baseline),
    )
    out, at = [], 0
    for groups, _, label in jobs:
        mine = frames[at : at + len(groups)]
        at += len(groups)
        log.debug("%s: %d accounts in %d batches", label, sum(map(len, groups)), len(groups))
        out.append(pl.concat(mine) if mine else pl.DataFrame(schema=RESCORE_SCHEMA))
    log.info(
        "%d tests: %d batches x %d models re-scored in %.1f s (engine %s)",
        len(jobs),
        len(tasks),
        len(models),
        time.perf_counter() - started,
        "local" if engine is None else engine.name,
    )
    return out


def duration(seconds: float) -> str:
    """``seconds`` as a person reads a wait: "40 s", "14 min", "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def planned_cost(n_rescorings: int, baseline_seconds: float) -> str:
    """What :func:`rescore_many`'s plan adds to its log line: each re-scoring scores every
    model once, as the baseline did (at 1M posts one took 9.3-12.4 s, the models nearly all of
    it), so ``n_rescorings`` of them take about that many baselines in one process. A rough
    guide: the baseline pays the models' one-time costs (at 100k posts 1.6 s against 0.82 s a
    re-scoring: 23 min said, 12 taken), an alteration that takes nothing is not re-scored, and
    one that adds posts scores more. A user who sees hours can stop and batch the accounts
    (``compare.counterfactual.batch_share``, at the bias ``analysis.counterfactual``
    measures) or spread them (``compute.engine``)."""
    return (
        f"; the baseline scoring took {baseline_seconds:.1f} s, so about "
        f"{duration(n_rescorings * baseline_seconds)} in one process"
    )


def rescore(
    tables: Tables,
    models: Mapping[str, Model],
    params: Any,
    as_of: datetime,
    groups: list[list[str]],
    transform: Transform,
    baseline: dict[str, pl.DataFrame],
    label: str,
    engine: Engine | None = None,
) -> pl.DataFrame:
    """Alter each group of accounts in turn, re-score every model, and keep the group's rows.

    Returns:
        One row per model and altered account, columns :data:`RESCORE_SCHEMA`.
    """
    jobs = [(groups, transform, label)]
    return rescore_many(tables, models, params, as_of, jobs, baseline, engine)[0]


#: What :func:`rescore` returns: ``pct_cf`` is re-ranked inside the altered tables (the old
#: figure, against ``pct_base``, the model's own percentile), ``pct_frozen`` ranks the altered
#: score against everyone else's frozen baseline (against ``pct_base_frozen``, the baseline score
#: ranked by the same rule);
#: ``band_*``: the published band of a model that has one (null otherwise);
#: ``own_posts_removed``: how many of the account's own posts before the date the alteration
#: took, directly or below a removed post (negative where it added some).
RESCORE_SCHEMA = {
    "model": pl.String,
    "account_id": pl.String,
    "score_base": pl.Float64,
    "score_cf": pl.Float64,
    "score_se": pl.Float64,
    "pct_base": pl.Float64,
    "pct_cf": pl.Float64,
    "pct_frozen": pl.Float64,
    "pct_base_frozen": pl.Float64,
    "band_base": pl.Int64,
    "band_cf": pl.Int64,
    "own_posts_removed": pl.Int64,
}
