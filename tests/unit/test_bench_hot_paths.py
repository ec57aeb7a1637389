"""``benchmarks/hot_paths.py``'s name redactor section runs on a small synthetic dump and prints
its figures (the build, the memory it holds, the form counts beside the route they replaced).
Figures are printed, never asserted: the answers of both routes are checked in
``test_name_forms.py``."""

from __future__ import annotations

import re

from benchmarks import hot_paths


def test_the_name_redactor_section_prints_each_figure(capsys) -> None:
    hot_paths.name_redactor(n_accounts=300, n_posts=3_000, repeat=1)
    out = capsys.readouterr().out
    assert "The name redactor of 300 synthetic accounts" in out
    assert re.search(r"NameRedactor build\s+600 names\s+\d+\.\d{3} s", out), out
    assert re.search(r"its Python objects hold\s+\d+\.\d MiB for [\d,]+ entries", out), out
    assert re.search(
        r"form counts, [\d,]+ keys, 20,000 texts a batch\s+3,000 texts .*x the old", out
    ), out


def test_the_group_sums_section_prints_both_shapes(capsys) -> None:
    hot_paths.group_sums(n_rows=5_000, repeat=1)
    out = capsys.readouterr().out
    assert "Group sums in a fixed order, 5,000 values" in out
    for shape in ("groups mostly of one or two rows", "groups of ~20 rows"):
        assert re.search(rf"{re.escape(shape)}\s+5,000 values .*x the old route", out), out


def test_the_circle_updates_section_prints_the_update_beside_the_listing(capsys) -> None:
    hot_paths.circle_updates(n_edges=4_000, repeat=1)
    out = capsys.readouterr().out
    assert re.search(r"Circle counts after one account's alteration, [\d,]+ reply edges", out), out
    assert re.search(r"updated \(the same numbers: yes\)\s+[\d,]+ edges .*x the old route", out), (
        out
    )


def test_the_pair_keys_section_prints_each_route_beside_the_two_columns(capsys) -> None:
    hot_paths.pair_keys(n_rows=6_000, repeat=1)
    out = capsys.readouterr().out
    assert "Pairs of codes as one packed integer, 6,000 synthetic posts" in out
    for label in (
        r"item outcomes \(the same rows: yes\)\s+6,000 posts",
        r"repliers on categorical ids \(the same rows: yes\)\s+[\d,]+ edges",
        r"edges sorted for PageRank \(the same order: yes\)\s+[\d,]+ edges",
    ):
        assert re.search(label + r" .*x the old route", out), out
