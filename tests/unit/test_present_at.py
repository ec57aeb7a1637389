"""Who a score at ``as_of`` ranks (``common.present_at``): the participants that existed then,
never accounts that joined later (their number must not move anyone's percentile)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import polars as pl
import pytest

from analysis.models import MODELS, common
from analysis.models.params import ModelParams
from tests.unit.test_models import T0, make_tables

#: a: posts from day 0; b: replies on day 1; c: joins and posts on day 20; d: no creation date,
#: posts on day 21 only; e: no creation date and nothing dated (kept: no evidence it came later);
#: f: created on day 30 but posted on day 2 (an account re-created later: it existed)
POSTS = [
    ("p1", "a", 0, None, None),
    ("p2", "b", 1, "p1", None),
    ("p3", "f", 2, None, None),
    ("p4", "a", 5, None, None),
    ("p5", "c", 20, None, None),
    ("p6", "d", 21, "p4", None),
]
CREATED = {"a": 0, "b": 0, "c": 19, "f": 30}


def _tables():
    t = make_tables(POSTS)
    accounts = pl.concat(
        [
            t.accounts,
            t.accounts.filter(pl.col("account_id") == "a").with_columns(account_id=pl.lit("e")),
        ]
    ).with_columns(
        created_at=pl.col("account_id").replace_strict(
            {k: T0 + timedelta(days=d) for k, d in CREATED.items()}, default=None
        )
    )
    return replace(t, accounts=accounts)


@pytest.mark.parametrize("name", ["volume", "conversation", "engagement", "klout_like"])
def test_accounts_that_joined_after_the_scoring_date_are_not_ranked(name) -> None:
    """At day 10, c (created day 19) and d (first act day 21) did not exist yet: they keep their
    rows (score 0, or the model's floor) but no percentile, and a, b, e and f are ranked among
    themselves, as in a table without c and d (the old scores ranked them among six)."""
    tables, p = _tables(), ModelParams()
    as_of = T0 + timedelta(days=10)
    got = MODELS[name].score(tables, p, as_of)
    assert sorted(got["account_id"]) == list("abcdef")
    assert sorted(got.filter(pl.col("score_pct").is_null())["account_id"]) == ["c", "d"]
    early = replace(
        tables,
        posts=tables.posts.filter(pl.col("created_at") < as_of),
        accounts=tables.accounts.filter(~pl.col("account_id").is_in(["c", "d"])),
    )
    want = MODELS[name].score(early, p, as_of)
    cols = ["account_id", "score", "score_pct"]
    assert got.filter(pl.col("score_pct").is_not_null()).select(cols).equals(want.select(cols))


def test_at_the_default_date_every_participant_is_ranked() -> None:
    tables = _tables()
    as_of = common.resolve_as_of(ModelParams(), tables.posts)
    assert common.present_at(tables, as_of)["account_id"].sort().to_list() == list("abcdef")
    assert MODELS["volume"].score(tables, ModelParams(), as_of)["score_pct"].null_count() == 0
    # an undated reaction given counts as being there (it may have come at any time)
    undated = replace(
        tables,
        reactions=pl.DataFrame(
            {"reaction_id": ["r"], "platform": ["demo"], "post_id": ["p1"], "kind": ["like"]}
        )
        .with_columns(
            created_at=pl.lit(None, tables.reactions.schema["created_at"]),
            actor_account_id=pl.lit("d"),
        )
        .select(tables.reactions.columns),
    )
    assert "d" in common.present_at(undated, T0 + timedelta(days=10))["account_id"].to_list()


def test_who_is_present_is_computed_once_per_tables_and_date_and_never_kept_by_a_copy() -> None:
    """Every model's ``finish`` asks who is present: the answer is kept on the tables
    (``Tables.derived``), per date. A copy with other posts or accounts must not inherit it:
    the day-10 answer of the six accounts is not the answer once c posts before day 10."""
    tables = _tables()
    day10 = T0 + timedelta(days=10)
    first = common.present_at(tables, day10)
    assert common.present_at(tables, day10) is first  # kept, not computed again
    assert sorted(first["account_id"]) == list("abef")
    later = common.present_at(tables, T0 + timedelta(days=25))
    assert sorted(later["account_id"]) == list("abcdef")  # another date, its own answer
    c_early = tables.posts.with_columns(
        created_at=pl.when(pl.col("account_id") == "c")
        .then(T0 + timedelta(days=3))
        .otherwise(pl.col("created_at"))
    )
    for copy in (tables.with_posts(c_early), replace(tables, posts=c_early)):
        assert not copy.derived
        assert sorted(common.present_at(copy, day10)["account_id"]) == list("abcef")
    assert tables == replace(tables)  # the kept answers are not part of equality
