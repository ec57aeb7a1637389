"""The audit fails a published output, or DVC plot data, that gives a figure over fewer than
``privacy.min_cell_k`` accounts.

Demo run (k = 10): ``reports/plots/compare/adversaries.csv`` and ``robustness.csv`` printed
the gains of a reaction ring of 5 members (``n_targets`` = 5, ``ring_n_at_5`` = 5), and the
audit, which scanned published outputs for times only, passed.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.audit import SMALL_GROUP, SMALL_GROUP_SCANNED, small_groups

K = 10


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_plot_row_over_fewer_than_k_accounts_fails_the_audit(tmp_path) -> None:
    _write(
        tmp_path,
        "reports/plots/compare/adversaries.csv",
        "adversary,model,strength,gain,n_targets\n"
        "ring,volume,5.0,1.0188,5\nring,volume,20.0,2.33,20\n",
    )
    _write(
        tmp_path,
        "reports/plots/compare/robustness.csv",
        "model,ring_gain_at_5,ring_n_at_5,weekend_off_n\nvolume,1.0188,5,85\n",
    )
    hits = small_groups(tmp_path, K)
    assert {(h.file, h.where, h.value) for h in hits} == {
        ("reports/plots/compare/adversaries.csv", "row 1, n_targets", "5"),
        ("reports/plots/compare/robustness.csv", "row 1, ring_n_at_5", "5"),
    }
    assert all(h.kind == SMALL_GROUP for h in hits)
    assert "5 accounts, fewer than privacy.min_cell_k" in str(hits[0])


def test_published_json_and_writeup_tables_are_scanned_and_suppressed_rows_pass(
    tmp_path,
) -> None:
    metrics = {
        "ground_truth": {"evidence": {"n_answerers_credited": 4, "map": 0.1}},
        "ground_truth_demo": {"n_one_off_accounts": 3, "n_experts": 28},
        "n": 3,
        "n_posts": 4,
    }
    _write(tmp_path, "reports/metrics/topics.json", json.dumps(metrics))
    _write(
        tmp_path,
        "reports/methodology.md",
        "# x\n\n| role | n_accounts | rate |\n|---|---|---|\n| expert | 28 | 0.36 |\n"
        "| gamer | 3 | 1.00 |\n| nobody | 0 | n/a |\n\nPeriod: 3 weeks.\n",
    )
    # suppressed rows (null count) and zero counts are no small group
    _write(
        tmp_path,
        "reports/public/quadrants.csv",
        "quadrant,n_accounts,share,is_suppressed\nloud,,,true\nquiet,0,0.0,false\n",
    )
    # the analyst page stays with the analyst: not scanned
    _write(tmp_path, "reports/index.html", "<td>n_accounts</td><td>3</td>")
    hits = small_groups(tmp_path, K)
    assert {(h.file, h.where, h.value) for h in hits} == {
        ("reports/metrics/topics.json", "ground_truth.evidence.n_answerers_credited", "4"),
        ("reports/metrics/topics.json", "ground_truth_demo.n_one_off_accounts", "3"),
        ("reports/methodology.md", "line 3 table, row 2, n_accounts", "3"),
    }
    assert "reports/plots" in SMALL_GROUP_SCANNED and "reports/public" in SMALL_GROUP_SCANNED


def test_the_compare_stage_plot_data_passes_the_audit(tmp_path, monkeypatch) -> None:
    """The plot data the compare stage writes for a ring of 5 members and one of 20."""
    from tests.unit.test_compare_plot_privacy import _result
    from tests.unit.test_compare_plot_privacy import _write as write_plots

    monkeypatch.chdir(tmp_path)
    write_plots(tmp_path / "reports", monkeypatch, _result(n_weekend=85, n_gaming=20))
    assert list((tmp_path / "reports/plots").glob("*.csv"))
    assert small_groups(tmp_path, K) == []
