"""Is the report's evaluation of the data the report describes? (pure: no I/O)

``validate`` and ``compare`` evaluate the method (validity with intervals, agreement, the
counterfactual tests and the recommendation); at scale they are most of a run, and
``topic_eval`` (the topics against ground truth) is half a topics run on a large site. A user
may therefore freeze them (``dvc freeze validate compare topic_eval``) and let ``dvc repro``
refresh ingest, the embeddings, topics, scores, the reach-by-conversation divergence and the
report on new posts, re-running the evaluation on a schedule (``dvc unfreeze validate compare
topic_eval && dvc repro``). ``topic_eval`` reads no score: its date is the posts' (the latest
plus a second), compared with the posts' own. The same mismatch arises when one stage is
reproduced alone. Either way the report then holds scores, activity and topics up to one date
beside an evaluation of another, and it must say so, in the analyst page and in the writeup,
instead of presenting both as one run. A frozen stage is not reached by an edit of
``params.yaml`` either: :func:`params_changes` names what changed since it ran.

Each stage's typed result records the scoring date it evaluated (``as_of``); the report's own
date is the scores' (:func:`analysis.models.common.resolve_as_of` on the interim posts, as the
score stage computes it). :func:`evaluation_lags` lists every result whose date differs, with
the number of posts between the two dates.

A frozen stage also keeps the accounts its outputs name (``compare``'s
``counterfactual_changes.parquet`` lists re-scored accounts by pseudonym). After an erasure
made by hand, a key rotation or a dump an account has left, those pseudonyms are not accounts
of the current data: :func:`stale_accounts` counts them, and the report refuses to render
(a rotated key exists to unlink the old pseudonyms; nobody erased may stay listed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl

from analysis import paths


@dataclass(frozen=True)
class Lag:
    """Evaluation results of one date, another than the scores'."""

    stages: tuple[str, ...]  #: the stages that wrote them ("validate", "compare")
    results: tuple[str, ...]  #: their paths
    evaluated_as_of: str  #: the scoring date it evaluated (ISO, as the result records it)
    as_of: str  #: the scores' date (ISO)
    #: posts created between the two dates (after the earlier, before the later)
    n_posts_between: int
    days: float  #: as_of - evaluated_as_of, in days (negative: the result is of a later date)

    @property
    def describes(self) -> str:
        """What in the report these results hold, in words."""
        parts = [WHAT.get(s, s) for s in self.stages]
        return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]

    @property
    def of(self) -> str:
        """What the results evaluated, in words: the scores, the topics (``topic_eval``) or
        both."""
        if "topic_eval" not in self.stages:
            return "the scores"
        return "the topics" if len(self.stages) == 1 else "the scores and the topics"

    @property
    def behind(self) -> bool:
        """Is the evaluation of an earlier date than the scores (the frozen-stages case)?"""
        return self.days > 0


#: What each stage's result holds in the report and the writeup.
WHAT = {
    "validate": "validity (section 5 of the writeup)",
    "divergence": "reach versus conversation, account by account",
    "compare": "the agreement between models, the weekend-off, time-off and gaming tests and "
    "the recommendation (sections 6 and 7)",
    "topic_eval": "the topics' check against ground truth (planted subjects, answer tags)",
}
#: The stage results that carry an evaluated date, by stage: their paths for the message.
RESULTS = {
    "validate": str(paths.VALIDITY),
    "compare": str(paths.COMPARE_RESULT),
    "divergence": str(paths.DIVERGENCE_RESULT),
    "topic_eval": str(paths.TOPIC_EVAL),
}


def without(lag: Lag, stage: str) -> Lag | None:
    """``lag`` less ``stage``'s result (None when it was the only one)."""
    keep = [i for i, s in enumerate(lag.stages) if s != stage]
    if not keep:
        return None
    return replace(
        lag,
        stages=tuple(lag.stages[i] for i in keep),
        results=tuple(lag.results[i] for i in keep),
    )


#: Params no result is checked against: the scoring date is the lags' (:func:`evaluation_lags`).
UNCHECKED = ("models.as_of",)
#: Changed keys a notice names before "and N more".
MAX_CHANGES_SHOWN = 6


@dataclass(frozen=True)
class ParamsChange:
    """An evaluation result computed with other params than the current ones (a frozen stage
    after an edit of ``params.yaml``; dates are :class:`Lag`'s)."""

    stage: str
    result: str  #: its path
    #: (dotted key, value it ran with, value now), keys sorted; None: absent (the default)
    changes: tuple[tuple[str, Any, Any], ...]

    @property
    def describes(self) -> str:
        """What in the report the result holds, in words."""
        return WHAT.get(self.stage, self.stage)

    @property
    def shown(self) -> tuple[tuple[str, Any, Any], ...]:
        """The first :data:`MAX_CHANGES_SHOWN` changes."""
        return self.changes[:MAX_CHANGES_SHOWN]

    @property
    def n_more(self) -> int:
        """Changes not shown."""
        return max(0, len(self.changes) - MAX_CHANGES_SHOWN)


#: A key absent on one side of :func:`params_changes` (printed as null).
_ABSENT = object()


def _without(tree: Any, dotted: str) -> Any:
    """``tree`` (a params section, recorded) less the key at ``dotted`` (below its name)."""
    head, _, rest = dotted.partition(".")
    if not isinstance(tree, Mapping) or head not in tree:
        return tree
    if not rest:
        return {k: v for k, v in tree.items() if k != head}
    return {**tree, head: _without(tree[head], rest)}


def _diff(a: Any, b: Any, key: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in sorted(a.keys() | b.keys(), key=str):
            _diff(a.get(k, _ABSENT), b.get(k, _ABSENT), f"{key}.{k}", out)
    elif a != b:
        # a subtree on one side only is one change (a model dropped from models.scored with
        # its params), not one per key inside it
        out.append((key, None if a is _ABSENT else a, None if b is _ABSENT else b))


def params_changes(
    used: Mapping[str, Any], now: Mapping[str, Any]
) -> tuple[tuple[str, Any, Any], ...]:
    """The dotted keys of the sections ``used`` records (``config.params_record``) whose value
    differs in ``now`` (the same sections of the current params, recorded the same way), with
    both values, keys sorted. Both trees are walked together: a key under a mapping on both
    sides is compared alone (``{}`` beside ``{window_days: 90}`` is that one key), a subtree
    present on one side only is one change with its whole value (an absent key is None; an
    absent section is an empty one). :data:`UNCHECKED` keys are left out."""
    out: list[tuple[str, Any, Any]] = []
    for name in used:
        # a section left out of params.yaml is its defaults, as an empty one is
        a, b = used[name] or {}, now.get(name) or {}
        for dotted in UNCHECKED:
            section, _, rest = dotted.partition(".")
            if section == name and rest:
                a, b = _without(a, rest), _without(b, rest)
        _diff(a, b, name, out)
    return tuple(sorted(out, key=lambda change: change[0]))


#: Outputs of a stage that may be frozen and that name accounts: stage -> (path, column).
NAMED = {"compare": (str(paths.CHANGES), "account_id")}


def stale_accounts(named: pl.Series, current: pl.Series) -> int:
    """How many distinct accounts ``named`` (by an output of a frozen stage) holds that are
    not accounts of the current data (``current``: the interim accounts' ``account_id``)."""
    named = named.drop_nulls().unique()
    return int((~named.is_in(current.unique().implode())).sum())


def _utc(iso: str) -> datetime:
    return pl.Series([iso]).str.to_datetime(time_zone="UTC", time_unit="us")[0]


def evaluation_lags(
    as_of: datetime, posts: pl.DataFrame, evaluated: Mapping[str, str | None]
) -> list[Lag]:
    """The results (stage -> the ``as_of`` it recorded; None = absent) of another date.

    Args:
        as_of: the scores' date (UTC-aware).
        posts: the interim posts (``created_at``), to count the posts between the dates.
        evaluated: per stage of :data:`RESULTS`, the ISO date its result evaluated.

    Returns:
        One :class:`Lag` per date other than ``as_of`` (to the microsecond) that a result
        records, its stages in the order of ``evaluated``; empty when every evaluation is of
        the scores' date.
    """
    by_date: dict[datetime, list[str]] = {}
    for stage, iso in evaluated.items():
        then = _utc(iso) if iso is not None else as_of
        if then != as_of:
            by_date.setdefault(then, []).append(stage)
    lags = []
    for then, stages in by_date.items():
        lo, hi = min(then, as_of), max(then, as_of)
        n = posts.filter((pl.col("created_at") >= lo) & (pl.col("created_at") < hi)).height
        lags.append(
            Lag(
                stages=tuple(stages),
                results=tuple(RESULTS.get(s, s) for s in stages),
                evaluated_as_of=str(evaluated[stages[0]]),
                as_of=as_of.isoformat(),
                n_posts_between=n,
                days=(as_of - then).total_seconds() / 86400,
            )
        )
    return lags
