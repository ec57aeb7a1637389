"""Issue 13 item 8: re-identification by linkage (exact times, subtraction from totals)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import publish
from analysis.report import public


def test_times_that_leave_the_machine_are_coarsened() -> None:
    assert publish.coarsen_time("2026-03-02 12:34:56.789+00:00", "1h").startswith(
        "2026-03-02 12:00:00"
    )
    assert publish.coarsen_time("2026-03-02T12:34:56Z", "1d").startswith("2026-03-02 00:00:00")
    assert publish.coarsen_time(None, "1h") is None
    assert publish.coarsen_time("n/a", "1h") == "n/a"


def test_one_suppressed_cell_is_not_recoverable_by_subtraction() -> None:
    """472 - 466 - 0 - 0 = 6: the suppressed removals cell was recovered from the totals."""
    removals = pl.DataFrame(
        {
            "source": ["demo"] * 4,
            "table": ["posts"] * 4,
            "rule": ["removed_privacy", "merged_nonparticipant", "rejected", "removed_minor"],
            "n": [6, 0, 0, 40],
            "n_accounts": [3, 0, 0, 12],
        }
    )
    out = public.public_tables({"removals": removals}, k=10)["privacy_removals"]
    assert out["is_suppressed"].sum() == 2  # the small cell and one more of its group
    assert out.filter(pl.col("rule") == "removed_privacy")["n"].to_list() == [None]
    # the complement is the smallest non-zero cell: the hidden sum (46) no longer gives the 6
    assert out.filter(pl.col("rule") == "removed_minor")["n"].to_list() == [None]
    assert out.filter(pl.col("n") == 0).height == 2


def test_complement_hides_the_smallest_non_zero_neighbour_of_a_lone_hidden_row() -> None:
    rows = [
        {"g": "a", "n": 3},
        {"g": "a", "n": 50},
        {"g": "a", "n": 20},
        {"g": "a", "n": 0},
        {"g": "b", "n": 4},
        {"g": "b", "n": 2},
        {"g": "c", "n": 5},
        {"g": "c", "n": 0},
    ]
    hidden = [True, False, False, False, True, True, True, False]
    out = public.complement(rows, hidden, ["n"], ["g"])
    # a: the smallest non-zero neighbour (20), not the zero; b: two hidden already;
    # c: only a zero is left beside it, and it is hidden (a reader cannot tell it is zero)
    assert out == [True, False, True, False, True, True, True, True]
    assert public.complement(rows, [False] * 8, ["n"], ["g"]) == [False] * 8


def _attack(original: pl.DataFrame, published: pl.DataFrame, name: str, k: int) -> list[str]:
    """Every subtraction a reader can do: each group's total (shown elsewhere) minus its
    visible cells is the sum of its hidden cells. A hidden count is given away when it is its
    group's only hidden cell; with two or more the reader learns their sum only. (A sum of zero
    tells that every hidden cell is zero: zeros are not disclosive, a table of zeros is public
    through its total.)"""
    _, additive, groups = public.ADDITIVE[name]
    leaks = []
    o = original.with_row_index("_row")
    p = published.with_row_index("_row")
    keys = [tuple(r) for r in o.select(groups).iter_rows()] if groups else [()] * o.height
    for key in set(keys):
        rows = [i for i, x in enumerate(keys) if x == key]
        hidden = [i for i in rows if p["is_suppressed"][i]]
        if not hidden:
            continue
        for col in additive:
            total = sum(o[col][i] or 0 for i in rows)
            visible = sum(p[col][i] for i in rows if i not in hidden)
            rest = total - visible
            for i in hidden:
                if len(hidden) == 1 and rest != 0:
                    leaks.append(f"{name} {key} {col}: row {i} = {rest}")
            # every published cell of a hidden row is null: nothing to subtract from
            assert all(p[col][i] is None for i in hidden), (name, col)
    # and every cell under k is hidden in the first place
    size = public.ADDITIVE[name][0]
    for i in range(o.height):
        small = 0 < (o[size][i] or 0) < k and any((o[c][i] or 0) for c in additive)
        if small and not p["is_suppressed"][i]:
            leaks.append(f"{name}: row {i} covers {o[size][i]} accounts and is shown")
    return leaks


counts = st.integers(min_value=0, max_value=40)


@st.composite
def tables(draw: st.DrawFn) -> dict[str, pl.DataFrame]:
    n_weeks = draw(st.integers(min_value=2, max_value=8))
    activity = pl.DataFrame(
        {
            "week": [f"2026-03-{2 + 7 * i:02d}" for i in range(n_weeks)],
            "n_posts": draw(st.lists(counts, min_size=n_weeks, max_size=n_weeks)),
            "n_reactions": draw(st.lists(counts, min_size=n_weeks, max_size=n_weeks)),
            "n_accounts": draw(st.lists(st.integers(1, 30), min_size=n_weeks, max_size=n_weeks)),
        }
    )
    rules = ["merged_nonparticipant", "rejected", "removed_minor", "removed_privacy"]
    removals = pl.DataFrame(
        [
            {"source": s, "table": t, "rule": r, "n": draw(counts), "n_accounts": draw(counts)}
            for s in ("d1", "d2")
            for t in ("accounts", "posts")
            for r in rules
        ]
    )
    n_topics = draw(st.integers(min_value=2, max_value=6))
    topics = pl.DataFrame(
        {
            "topic_id": list(range(n_topics)),
            "label": [f"{i}_t" for i in range(n_topics)],
            "keywords": [f"w{i}" for i in range(n_topics)],
            "n_posts": draw(st.lists(st.integers(1, 99), min_size=n_topics, max_size=n_topics)),
            "n_accounts": draw(st.lists(counts, min_size=n_topics, max_size=n_topics)),
        }
    )
    q = draw(st.lists(counts, min_size=4, max_size=4))
    quadrants = pl.DataFrame(
        {
            "quadrant": ["a", "b", "c", "d"],
            "n_accounts": q,
            "share": [x / max(sum(q), 1) for x in q],
        }
    )
    roles = pl.DataFrame(
        {
            "role_in_quadrant": ["gamer in loud", "broadcaster in loud", "expert in quiet"],
            "n_accounts": draw(st.lists(counts, min_size=3, max_size=3)),
            "rate": draw(st.lists(st.floats(0, 1), min_size=3, max_size=3)),
        }
    ).with_columns(ci_low=pl.col("rate") / 2, ci_high=(pl.col("rate") + 1) / 2)
    return {
        "activity": activity,
        "removals": removals,
        "topics": topics,
        "quadrants": quadrants,
        "planted_role_rates": roles,
    }


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(min_value=2, max_value=15))
def test_no_published_cell_is_recoverable_by_subtraction(frames: dict, k: int) -> None:
    """Issue 13 item 8, in every published count table: no cell under k shows, and no hidden
    cell is recovered by subtracting the visible cells of its group from the total."""
    out = public.public_tables(frames, k)
    pairs = {
        "activity_weekly": frames["activity"].with_columns(pl.col("week").cast(pl.String)),
        "privacy_removals": frames["removals"].sort("source", "table", "rule"),
        "topics": _topics_in_published_order(frames["topics"], out["topics"]),
        "quadrants": frames["quadrants"],
        "planted_role_rates": frames["planted_role_rates"],
    }
    assert set(pairs) == set(public.ADDITIVE)
    leaks = [x for name, df in pairs.items() for x in _attack(df, out[name], name, k)]
    assert leaks == []


def _topics_in_published_order(original: pl.DataFrame, published: pl.DataFrame) -> pl.DataFrame:
    """``original`` rows in the order of ``published`` (which reorders them and drops
    ``topic_id``): a shown label finds its row; rows whose label is hidden take the remaining
    ones (all of them hidden alike: which goes where does not change the attack)."""
    shown = [x for x in published["label"].to_list() if x is not None]
    rest = iter(original.filter(~pl.col("label").is_in(shown)).to_dicts())
    by_label = {r["label"]: r for r in original.to_dicts()}
    rows = [by_label[x] if x is not None else next(rest) for x in published["label"].to_list()]
    return pl.DataFrame(rows, schema=original.schema)


def _bike_topics(hidden_posts: int) -> dict[str, pl.DataFrame]:
    """The reviewer's case (issue: a suppressed topic's count from its row's position): topic 2
    is one bot and three friends (4 authors) with ``hidden_posts`` posts, among topics whose
    ids the topics stage numbered by size."""
    spec = [(0, 500, 80), (1, 410, 60), (2, hidden_posts, 4), (3, 410, 50), (4, 120, 30)]
    spec.append((5, 60, 12))
    return {
        "topics": pl.DataFrame(
            {
                "topic_id": [t for t, _, _ in spec],
                "label": [f"{t}_w" for t, _, _ in spec],
                "keywords": ["w"] * len(spec),
                "n_posts": [n for _, n, _ in spec],
                "n_accounts": [a for _, _, a in spec],
            }
        ).sort("n_posts", descending=True, maintain_order=True)  # as frames.topic_table does
    }


def test_a_suppressed_topic_is_not_placed_by_its_size() -> None:
    """Kept in its place in a table sorted by size, topic 2 (410 posts, 4 authors) sat between
    two topics of 410: its count was bounded exactly by its neighbours. Published, a hidden
    topic of 410 posts and one of 100 give the same table: nothing in it bounds the count."""
    big = public.public_tables(_bike_topics(410), k=10)["topics"]
    small = public.public_tables(_bike_topics(100), k=10)["topics"]
    # the position alone (ids aside) told 410 from 100
    assert big.drop("topic_id", strict=False).equals(small.drop("topic_id", strict=False))
    assert "topic_id" not in big.columns  # ids are numbered by size
    assert big.equals(small)
    flags = big["is_suppressed"].to_list()
    assert flags == sorted(flags)  # shown rows first, the hidden ones after all of them
    assert big.filter(~pl.col("is_suppressed"))["n_posts"].to_list() == [500, 410, 410, 120]
    assert big.filter(pl.col("is_suppressed"))["label"].to_list().count(None) == 1


def test_suppressed_topics_are_ordered_by_their_words_not_their_size() -> None:
    """Three hidden topics, one of which shrinks from 410 posts to 200: their order (a hash of
    label and keywords) stays, and so does the table."""
    frames = _bike_topics(410)["topics"].with_columns(
        n_accounts=pl.when(pl.col("topic_id").is_in([1, 3])).then(3).otherwise("n_accounts")
    )
    swapped = frames.with_columns(
        n_posts=pl.when(pl.col("topic_id") == 1).then(200).otherwise("n_posts")
    ).sort("n_posts", descending=True, maintain_order=True)
    a = public.public_tables({"topics": frames}, k=10)["topics"]
    b = public.public_tables({"topics": swapped}, k=10)["topics"]
    assert a["is_suppressed"].sum() == 3 and a.equals(b)


def test_the_attack_finds_the_leak_of_a_lone_hidden_cell() -> None:
    """The check above can fail: small-cell suppression alone (no complement) leaks."""
    from analysis import publish

    df = pl.DataFrame({"quadrant": ["a", "b"], "n_accounts": [3, 40], "share": [0.07, 0.93]})
    alone = publish.suppress_small_cells(df, "n_accounts", 10, ["share"])
    assert _attack(df, alone, "quadrants", 10)
    assert (
        _attack(df, public.public_tables({"quadrants": df}, 10)["quadrants"], "quadrants", 10) == []
    )


def _solve(pub: dict, k: int) -> list[str]:
    """An attacker on ingest.json: every hidden cell that one relation gives back exactly, or
    bounds below k (read = accepted + rejected + removed + merged; per-rule removals <= the
    accounts' removed_privacy, equal when the rules do not overlap; totals = the sum of sources)."""
    leaks = []
    for source, tables in pub["sources"].items():
        for table, c in tables.items():
            cells = ("accepted", "rejected", "removed_privacy", "merged_nonparticipant")
            hidden = [x for x in cells if c.get(x) is None]
            if c.get("read") is not None and len(hidden) >= 1:
                rest = c["read"] - sum(c[x] for x in cells if x not in hidden)
                if len(hidden) == 1 or rest < k:
                    leaks.append(f"{source}.{table}: {hidden} from read ({rest})")
            rules = [r for r in publish.REMOVAL_RULES if r in c]
            hidden_rules = [r for r in rules if c[r] is None]
            if hidden_rules and c.get("removed_privacy") is not None:
                rest = c["removed_privacy"] - sum(c[r] for r in rules if r not in hidden_rules)
                if rest < k:
                    leaks.append(f"{source}.{table}: {hidden_rules} from removed_privacy ({rest})")
    for table, tot in pub["totals"].items():
        for cell, v in tot.items():
            parts = [t[table].get(cell) for t in pub["sources"].values() if table in t]
            if v is not None and sum(p is None for p in parts) == 1:
                leaks.append(f"totals.{table}.{cell} gives back a hidden source cell")
    return leaks


def _counts(removed_accounts: int, removed_posts: int, minors: int, rejected: int = 0) -> dict:
    return {
        "accounts": dict(
            read=41 + removed_accounts,
            accepted=40,
            rejected=0,
            removed_privacy=removed_accounts,
            merged_nonparticipant=1,
            removed_minor=minors,
            removed_opt_out=removed_accounts - minors,
            removed_no_consent=0,
            removed_rejected_account=0,
        ),
        "posts": dict(
            read=466 + removed_posts + rejected,
            accepted=466,
            rejected=rejected,
            removed_privacy=removed_posts,
            merged_nonparticipant=0,
        ),
        "reactions": dict(
            read=900, accepted=900, rejected=0, removed_privacy=0, merged_nonparticipant=0
        ),
    }


def test_ingest_counts_that_leave_the_machine_give_nothing_back_by_subtraction() -> None:
    """Issue 13 item 8: read 472 - accepted 466 - 0 - 0 = the hidden 6 (every other cell of the
    group a zero, so hiding a zero beside it protected nothing). ``read`` is hidden instead, and
    the posts removed with fewer than k accounts are hidden whatever their number."""
    sources = {"forum": _counts(removed_accounts=1, removed_posts=6, minors=1)}
    naive = {"sources": sources, "totals": {t: dict(c) for t, c in sources["forum"].items()}}
    for t in naive["totals"].values():
        for r in publish.REMOVAL_RULES:
            t.pop(r, None)
    naive["sources"] = {
        "forum": {
            t: {n: (None if 0 < v < 10 else v) for n, v in c.items()}
            for t, c in sources["forum"].items()
        }
    }
    assert _solve(naive, 10), "the attacker must find the leak of small-cell suppression alone"
    pub = publish.suppress_ingest_counts(sources, 10)
    posts = pub["sources"]["forum"]["posts"]
    assert posts["removed_privacy"] is None and posts["read"] is None
    assert posts["accepted"] == 466 and posts["rejected"] == 0
    # 83 posts of 4 removed accounts cover 4 accounts: hidden although 83 >= k
    many = publish.suppress_ingest_counts({"f": _counts(4, 83, 4)}, 10)["sources"]["f"]
    assert many["posts"]["removed_privacy"] is None and many["accounts"]["removed_minor"] is None
    assert _solve(pub, 10) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 400), st.integers(0, 30), st.integers(0, 15)),
        min_size=1,
        max_size=3,
    ),
    st.integers(min_value=2, max_value=15),
)
def test_no_ingest_count_is_recoverable_by_subtraction(srcs: list, k: int) -> None:
    sources = {
        f"s{i}": _counts(acc, posts if acc else 0, min(minors, acc), rejected)
        for i, (acc, posts, minors, rejected) in enumerate(srcs)
    }
    pub = publish.suppress_ingest_counts(sources, k)
    assert _solve(pub, k) == []
    for s, tables in pub["sources"].items():
        for t, c in tables.items():
            for name, v in c.items():
                assert v is None or v == 0 or v >= k, (s, t, name, v)
                assert v is None or v == sources[s][t][name]


def test_counts_that_follow_from_few_removals_are_hidden_with_them() -> None:
    """The demo published 44 detached replies beside its 4 hidden minors: the replies to the
    removed posts tell what the hidden count hides. Counts that follow from the removals go
    where the removals go; with removals of k accounts or more they stay."""
    few = _counts(removed_accounts=4, removed_posts=83, minors=4)
    few["posts"].update(detached_replies=44, removed_text_cut=12)
    pub = publish.suppress_ingest_counts({"demo": few}, 10)["sources"]["demo"]["posts"]
    assert pub["detached_replies"] is None and pub["removed_text_cut"] is None
    many = _counts(removed_accounts=12, removed_posts=83, minors=12)
    many["posts"].update(detached_replies=44, removed_text_cut=12)
    pub = publish.suppress_ingest_counts({"demo": many}, 10)["sources"]["demo"]["posts"]
    assert pub["detached_replies"] == 44 and pub["removed_text_cut"] == 12


def test_the_published_digest_of_the_removed_accounts_needs_the_key() -> None:
    """ingest.json leaves the machine: a plain sha256 of one removed pseudonym is testable by
    anyone holding an earlier report's pseudonyms; the keyed digest is not."""
    import hashlib

    from analysis.stages.ingest import removed_digest

    one = ["acct_00000000000001a1"]
    digest = removed_digest(one, b"k" * 32)
    assert digest != hashlib.sha256(one[0].encode()).hexdigest()
    assert digest != removed_digest(one, b"j" * 32)  # another key, another digest
    assert digest == removed_digest(list(one), b"k" * 32)  # stable: the cache prunes on change
    assert removed_digest(["b", "a"], b"k" * 32) == removed_digest(["a", "b"], b"k" * 32)
    assert digest != removed_digest([*one, "acct_2"], b"k" * 32)
