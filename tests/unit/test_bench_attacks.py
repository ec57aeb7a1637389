"""``benchmarks/attacks.py`` (issue 13): every attack of the issue runs and gets a measured figure.

The benchmark's fast subset (every attack, smaller denial-of-service inputs) runs in this
process. What is checked is the table, not the verdicts: an attack that works again shows as
BROKEN in the table, which is the benchmark's job to report, not this test's to hide.
"""

from __future__ import annotations

import pytest

from benchmarks import attacks

# about 30 s: a gzip bomb is read up to the 64 MiB grace. One xdist group: the module's ``rows``
# are measured once, not once on each worker that gets one of its tests.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench-attacks")]

DOS_GROUPS = {"scrub", "field", "zst", "gz", "sqlite"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return attacks.run(list(attacks.ATTACKS), fast=True, isolate=False)


def test_every_attack_of_the_issue_has_one_row(rows) -> None:
    keys = [r["key"] for r in rows]
    assert sorted(keys) == sorted(attacks.BEFORE), set(keys) ^ set(attacks.BEFORE)
    assert {r["item"] for r in rows} == set(range(1, 10))


def test_every_row_has_a_measured_figure_and_a_verdict(rows) -> None:
    for r in rows:
        assert r["now"] and not r["now"].startswith("benchmark error"), r
        assert r["held"] in (True, False, None), r
        assert r["before"] == attacks.BEFORE[r["key"]]
    for r in (r for r in rows if r["group"] in DOS_GROUPS):
        assert r["seconds"] > 0 and r["peak_mib"] > 0, r
        assert " s, peak " in attacks.now_cell(r), r


def test_the_table_has_one_line_per_attack(rows) -> None:
    table = attacks.markdown(rows).splitlines()
    assert len(table) == len(rows) + 2
    for r, line in zip(rows, table[2:], strict=True):
        assert r["attack"].replace("|", "/") in line
        assert line.rstrip(" |").endswith(attacks.verdict(r["held"]))
