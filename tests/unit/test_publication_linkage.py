"""Issue 13 item 8: re-identification by linkage (exact times, subtraction from totals)."""

from __future__ import annotations

import polars as pl

from analysis import publish, writeup


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
    out = writeup.public_tables({"removals": removals}, k=10)["privacy_removals"]
    assert out["is_suppressed"].sum() == 2  # the small cell and one more of its group
    assert out.filter(pl.col("rule") == "removed_privacy")["n"].to_list() == [None]
    # the complement is the smallest non-zero cell: the hidden sum (46) no longer gives the 6
    assert out.filter(pl.col("rule") == "removed_minor")["n"].to_list() == [None]
    assert out.filter(pl.col("n") == 0).height == 2


def test_complementary_suppression_leaves_groups_without_a_lone_hidden_cell() -> None:
    df = pl.DataFrame(
        {
            "g": ["a", "a", "a", "b", "b"],
            "n": [None, 50, 20, None, None],
            "is_suppressed": [True, False, False, True, True],
        }
    )
    out = publish.complementary_suppression(df, ["g"], "n")
    assert out["is_suppressed"].to_list() == [True, False, True, True, True]
    assert out["n"].to_list() == [None, 50, None, None, None]
