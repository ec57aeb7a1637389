"""What the ``divergence`` stage publishes (``reports/metrics/divergence.json``, kept in git and
under the audit's published outputs) follows the publication rule: no quadrant count under
``privacy.min_cell_k``, none recoverable by subtraction, no fit over fewer than k accounts."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import yaml

from analysis import paths
from analysis.stages import divergence as stage
from tests.dvc_wiring import SRC

PARAMS = yaml.safe_load((SRC.parent / "params.yaml").read_text())


def _run(
    tmp_path, monkeypatch, reach: list[float], conv: list[float], ids: list[str] | None = None
) -> dict:
    """The stage on accounts with these reach and conversation percentiles (no ground truth;
    one platform unless ``accounts.parquet`` is written already)."""
    monkeypatch.chdir(tmp_path)
    ids = ids or [f"a{i:03d}" for i in range(len(reach))]
    if not paths.ACCOUNTS.exists():
        paths.INTERIM.mkdir(parents=True)
        pl.DataFrame({"account_id": ids, "platform": "demo"}).write_parquet(paths.ACCOUNTS)
    paths.SCORES.mkdir(parents=True)
    for name, pct in (("reach", reach), ("conversation", conv)):
        pl.DataFrame({"account_id": ids, "score_pct": pct}).write_parquet(paths.score_file(name))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    pl.DataFrame({"created_at": [t0 + timedelta(days=i) for i in range(3)]}).write_parquet(
        paths.POSTS
    )
    params = {**PARAMS, "source": {**PARAMS["source"], "truth_path": None}}
    assert stage.run(params, argparse.Namespace()) == 0
    return json.loads(paths.DIVERGENCE_METRICS.read_text())


def test_a_small_quadrant_is_not_published_in_the_metrics(tmp_path, monkeypatch):
    k = PARAMS["privacy"]["min_cell_k"]
    # 40 loud and heard, 3 loud but unheard, 30 quiet connectors, 27 quiet and unheard
    cells = [(80.0, 80.0)] * 40 + [(80.0, 10.0)] * 3 + [(10.0, 80.0)] * 30 + [(10.0, 10.0)] * 27
    reach, conv = zip(*cells, strict=True)
    got = _run(tmp_path, monkeypatch, list(reach), list(conv))["quadrants"]
    assert got["loud_but_unheard"] is None  # was 3
    # 100 placed (the writeup's OLS n) - 40 - 30 - 27 = 3: a second count goes too
    assert sum(v is None for v in got.values()) == 2, got
    assert all(v is None or v >= k for v in got.values()), got


def test_no_fit_over_fewer_than_k_accounts_in_the_metrics(tmp_path, monkeypatch):
    k = PARAMS["privacy"]["min_cell_k"]
    n = k - 1
    got = _run(
        tmp_path, monkeypatch, [float(i) for i in range(n)], [float(n - i) for i in range(n)]
    )
    assert got["divergence_r2"] is None  # was 1.0, over 9 accounts
    assert all(v is None or v == 0 or v >= k for v in got["quadrants"].values()), got


@pytest.mark.parametrize("n", [0, 12])
def test_zeros_and_large_counts_stay(tmp_path, monkeypatch, n):
    cells = [(80.0, 80.0)] * 20 + [(10.0, 10.0)] * 20 + [(80.0, 10.0)] * n
    reach, conv = zip(*cells, strict=True)
    got = _run(tmp_path, monkeypatch, list(reach), list(conv))["quadrants"]
    assert got == {
        "loud_and_heard": 20,
        "loud_but_unheard": n,
        "quiet_and_unheard": 20,
        "quiet_connectors": 0,
    }


@pytest.mark.parametrize(("n", "shown"), [(9, False), (10, True)])
def test_the_writeup_prints_no_fit_over_fewer_than_k_accounts(n: int, shown: bool) -> None:
    from analysis import contracts
    from analysis.report.methodology import WriteupContext, methodology_markdown
    from analysis.report.params import Params

    dv = contracts.DivergenceResult.model_validate(
        {
            "as_of": "2026-07-01T00:00:00+00:00",
            "models": {"reach": "reach", "conversation": "conversation"},
            "thresholds_pct": {"reach": 50.0, "conversation": 50.0},
            "quadrants": {
                q: {"n": 0, "share": 0.0}
                for q in ("loud but unheard", "quiet connectors", "loud and heard")
            }
            | {"quiet and unheard": {"n": n, "share": 1.0}},
            "reach_missing": False,
            "ols": {"n": n, "intercept": 40.0, "slope": 0.5, "r2": 0.25},
        }
    )
    ctx = WriteupContext(
        params=Params.of(PARAMS),
        ingest=None,
        topics_metrics=None,
        validity=None,
        compare=None,
        divergence=dv,
        tables={},
        figures={},
        reach_floor=None,
    )
    assert ("R² 0.250" in methodology_markdown(ctx)) is shown


def test_a_platform_without_reach_is_named_not_ranked_as_quiet(tmp_path, monkeypatch):
    """Stack Exchange (views) beside Reddit (no follower counts, no views) in one run: every
    Reddit account sat at reach 0, all "quiet" (was: 20 quiet, every one of the 20 Stack
    Exchange accounts "loud", the split at the 50th percentile a split by platform)."""
    n = 20
    ids = [f"a{i:03d}" for i in range(2 * n)]
    pct = [(i + 0.5) / n * 50 + 50 for i in range(n)] + [24.4] * n  # reddit at the floor
    conv = [float(i * 37 % 100) for i in range(2 * n)]
    monkeypatch.chdir(tmp_path)
    paths.INTERIM.mkdir(parents=True)
    pl.DataFrame(
        {"account_id": ids, "platform": ["stackexchange"] * n + ["reddit"] * n}
    ).write_parquet(paths.ACCOUNTS)
    got = _run(tmp_path, monkeypatch, pct, conv, ids)
    div = pl.read_parquet(paths.DIVERGENCE)
    reddit = div.filter(pl.col("account_id").is_in(ids[n:]))
    assert reddit["quadrant"].null_count() == n  # was: all 20 "quiet ..."
    placed = div.filter(pl.col("account_id").is_in(ids[:n]))
    assert (placed["reach_pct"] >= 50).sum() == n // 2  # was: 20 of 20 loud
    result = json.loads(paths.DIVERGENCE_RESULT.read_text())
    assert result["reach_missing_platforms"] == ["reddit"] and result["ols"]["n"] == n
    assert sum(v or 0 for v in got["quadrants"].values()) <= n
