"""``analysis.ingest_quotes``: quote lines below removed posts, and runs of removed words, cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analysis import schema
from analysis.ingest_quotes import MARK, RemovedWords, below_removed, drop_quotes

REMOVED = "KIDSECRET I am 13 and I go to Springfield Elementary, room 4B"


def test_quote_lines_and_blockquotes_are_dropped() -> None:
    texts = pl.Series(
        [
            "> a\n>> b\nreply\n  | x\n&gt; y\nend",
            "x <BlockQuote cite='u'>A<blockquote>B <b>bold</b></blockquote>C</blockquote> D",
            "kept <blockquote>never closed\nstill the quote",
            "a > b is not a quote line",
            None,
        ]
    )
    assert drop_quotes(texts).to_list() == [
        "reply\nend",
        "x  D",
        "kept ",
        "a > b is not a quote line",
        None,
    ]


def test_below_removed_follows_every_ancestor_and_stops_at_cycles() -> None:
    n = 40  # a thread 40 levels deep under the removed root, then a cycle and a stranger
    ids = [f"p{i}" for i in range(n)]
    posts = pl.DataFrame(
        {
            "post_id": [*ids, "c1", "c2", "x", "p0"],
            "parent_post_id": [None, *ids[:-1], "c2", "c1", "not-in-dump", None],
            "account_id": ["kid", *["adult"] * (n - 1), "adult", "adult", "adult", "adult"],
        }
    )
    gone, below = below_removed(posts, {"kid"})
    assert gone.to_list() == [0]
    # a later row of p0 is an adult's, rejected as a duplicate: a parent id names the first raw
    # row of that id, the one the checks keep (the kid's)
    assert below.to_list() == list(range(1, n))
    gone, below = below_removed(posts.head(n + 3), {"kid"})
    assert gone.to_list() == [0] and below.to_list() == list(range(1, n))


def test_runs_of_removed_words_are_cut_wherever_they_are() -> None:
    words = RemovedWords.of(pl.Series([REMOVED, "0 0 0 0 0 0 0 0 0 0"]), 8)
    texts = pl.Series(
        "text",
        [
            f"> {REMOVED}\nwow",
            "she said kidsecret i AM 13 and i go to springfield elementary! ok",
            "I am 13 and I go to school",  # 7 words of the run: not a quote
            "0 0 0 0 0 0 0 0 0 0",  # a run of numbers is a figure, never cut
            "unrelated springfield text",
            None,
            "",
        ],
    )
    out = words.cut(texts)
    assert out.to_list() == [
        f"> {MARK}\nwow",
        f"she said {MARK}! ok",
        "I am 13 and I go to school",
        "0 0 0 0 0 0 0 0 0 0",
        "unrelated springfield text",
        None,
        "",
    ]
    assert texts[0] == f"> {REMOVED}\nwow"  # the input is not modified


@pytest.mark.parametrize("n", [3, 8])
def test_no_removed_text_cuts_nothing(n) -> None:
    words = RemovedWords.of(pl.Series([], dtype=pl.String), n)
    assert not words
    texts = pl.Series(["any text at all, of any length whatsoever here"])
    assert words.cut(texts).to_list() == texts.to_list()


def test_unicode_words_are_matched_case_insensitively() -> None:
    words = RemovedWords.of(pl.Series(["Ο Νίκος πάει στο σχολείο κάθε πρωί με το λεωφορείο"]), 8)
    out = words.cut(pl.Series(["είπε: ο νίκος πάει στο σχολείο κάθε πρωί με ΤΟ λεωφορείο."]))
    assert out.to_list() == [f"είπε: {MARK}."]


def test_a_run_a_kept_post_wrote_first_is_spared_and_a_tie_or_unknown_time_is_not() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    first = "the quick brown fox jumps over the lazy dog again"  # kept an hour before: spared
    tie = "she packed her red umbrella before the long walk home"  # kept at the same time
    unknown = "a completely different sentence about nothing in particular at all"
    removed = pl.Series([first, tie, first, unknown])
    at = pl.Series([t0, t0, t0 + hour, None], dtype=schema.UTC_TIME)
    kept = pl.Series("text", [f"x {first}", f"y {tie}", f"z {unknown}", None])
    kept_at = pl.Series([t0 - hour, t0, t0 - 10 * hour, t0 - hour], dtype=schema.UTC_TIME)
    words = RemovedWords.of(removed, 8, at)
    at_hits, held = words.find(kept, kept_at)
    assert at_hits.to_list() == [0, 1, 2]  # the texts holding a run
    assert held.to_list() == sorted(
        " ".join(first.split()[k : k + 8]) for k in range(3)
    )  # the 3 runs of 8 of its 10 words; nothing of the tie's nor of the unknown time's
    # the same whatever the order of the removed and the kept posts
    order = [3, 1, 2, 0]
    again = RemovedWords.of(removed.gather(order), 8, at.gather(order))
    assert again.find(kept.gather(order), kept_at.gather(order))[1].equals(held)
    out = words.without(held).cut(kept)
    assert out.to_list() == [f"x {first}", f"y {MARK}", f"z {MARK}", None]
    assert words.cut(kept).to_list()[0] == f"x {MARK}"  # without the exception it was cut
