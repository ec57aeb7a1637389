"""Stage ``topics`` month by month (``analysis.topics_months``): a month read from the memo is
the month computed, bit for bit, and a memo of other rows, vectors, fit or params is never read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from analysis import topics_months, vectors
from analysis.embed import embed_posts
from analysis.stages import embed as embed_stage
from analysis.stages import topic_fit as fit_stage
from analysis.stages.topics import compute
from analysis.topics import TopicsParams

DIM = 8
SUBJECTS = ("espresso grinder", "bike derailleur", "mulch compost")
SPACE = "fake@1"
P = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
TABLES = ("topics", "post_topics", "account_topics")


def _encoder(texts: list[str]) -> np.ndarray:
    """Three blobs, one per subject of the text, each text's noise seeded by its hash."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        k = next(j for j, s in enumerate(SUBJECTS) if s in t)
        out[i] = np.eye(DIM)[k] * 5 + np.random.default_rng(seed).normal(0, 0.8, DIM)
    return out


def _posts(n: int, start: int = 0) -> pl.DataFrame:
    """A post every 23 hours from 2024-01-01 (``n = 90``: January to March)."""
    i = range(start, start + n)
    return pl.DataFrame(
        {
            "post_id": [f"post_{j:04d}" for j in i],
            "account_id": [f"acct_{j % 9}" for j in i],
            "kind": ["post"] * n,
            "parent_post_id": pl.Series([None] * n, dtype=pl.String),
            "created_at": [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=23 * j) for j in i],
            "text": [f"{SUBJECTS[j % 3]} note {j % 5}" for j in i],
            "labels": [[f"tag{j % 3}"] for j in i],
        }
    )


ACCOUNTS = pl.DataFrame({"account_id": [f"acct_{i}" for i in range(9)], "is_participant": True})
REACTIONS = pl.DataFrame(
    {"post_id": [], "actor_account_id": []},
    schema={"post_id": pl.String, "actor_account_id": pl.String},
)


def _embed(posts: pl.DataFrame, folder: Path) -> Path:
    """The ``embed`` stage's parts of ``posts`` (footers naming each month's rows)."""
    embed_stage.embed_by_month(
        embed_stage.file_order(posts),
        lambda rows: embed_posts(rows, _encoder, None, dim=DIM),
        folder,
        SPACE,
    )
    return folder


def _run(posts: pl.DataFrame, folder: Path, fit, memo: Path | None, p: TopicsParams = P) -> dict:
    return compute(posts, folder, ACCOUNTS, REACTIONS, p, fit, SPACE, memo)


def _same(a: dict, b: dict) -> None:
    for name in TABLES:
        assert a[name].equals(b[name]), name
    assert a["metrics"] == b["metrics"]


def _months_read(monkeypatch) -> list[str]:
    """Records the month of every part whose vectors are read."""
    read: list[str] = []
    batches = vectors.ParquetVectors.batches

    def spy(self):
        read.append(Path(self.path).stem)
        return batches(self)

    monkeypatch.setattr(vectors.ParquetVectors, "batches", spy)
    return read


@pytest.mark.parametrize("batch_rows", [None, 7])
def test_months_from_the_memo_are_the_months_computed(
    tmp_path: Path, monkeypatch, batch_rows: int | None
) -> None:
    """The memo stands for a month's pass: a run from it writes what a run from nothing
    writes; new posts re-assign their month only (several batches a month too)."""
    if batch_rows:
        monkeypatch.setattr(vectors, "BATCH_ROWS", batch_rows)
    posts = _posts(90)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)  # then frozen
    memo = tmp_path / "memo"
    read = _months_read(monkeypatch)
    cold = _run(posts, folder, fit, None)
    assert read == ["2024-01", "2024-02", "2024-03"]
    first = _run(posts, folder, fit, memo)
    _same(first, cold)
    assert sorted(f.name for f in memo.iterdir()) == [
        f"2024-0{m}.{kind}.parquet" for m in (1, 2, 3) for kind in ("soft", "sums")
    ]
    assert not any(b"post_" in f.read_bytes() for f in memo.iterdir())  # no id, no text
    read.clear()
    _same(_run(posts, folder, fit, memo), cold)
    assert read == []  # every month from the memo

    more = pl.concat([posts, _posts(12, start=90)])  # March and April
    _embed(more, folder)
    read.clear()
    incremental = _run(more, folder, fit, memo)
    assert read == ["2024-03", "2024-04"]
    _same(incremental, _run(more, folder, fit, None))
    _same(incremental, _run(more, folder, fit, tmp_path / "fresh"))
    assert incremental["metrics"]["fit"]["n_posts_after_fit"] == 12


def test_a_memo_of_other_inputs_is_never_read(tmp_path: Path, monkeypatch) -> None:
    """Other membership params, another fit, a memo file truncated or swapped for another
    month's: the month is assigned again, and the outputs are those of a run from nothing."""
    posts = _posts(90)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)
    memo = tmp_path / "memo"
    _run(posts, folder, fit, memo)
    read = _months_read(monkeypatch)

    other = P.model_copy(update={"min_probability": 0.3})
    _same(_run(posts, folder, fit, memo, other), _run(posts, folder, fit, None, other))
    assert read == ["2024-01", "2024-02", "2024-03"] * 2

    early = posts.filter(pl.col("created_at") < datetime(2024, 2, 15, tzinfo=UTC))
    refit = fit_stage.fit(early, folder, P, space=SPACE)
    assert refit.assign_centroids != fit.assign_centroids
    read.clear()
    _same(_run(posts, folder, refit, memo), _run(posts, folder, refit, None))
    assert read == ["2024-01", "2024-02", "2024-03"] * 2

    _run(posts, folder, fit, memo)
    cold = _run(posts, folder, fit, None)
    soft = memo / "2024-02.soft.parquet"
    soft.write_bytes(soft.read_bytes()[:-20])  # truncated
    (memo / "2024-03.sums.parquet").write_bytes((memo / "2024-01.sums.parquet").read_bytes())
    read.clear()
    _same(_run(posts, folder, fit, memo), cold)
    assert read == ["2024-02", "2024-03"]
    read.clear()
    _same(_run(posts, folder, fit, memo), cold)
    assert read == []


def test_a_vanished_month_leaves_the_memo_and_a_part_without_footer_has_none(
    tmp_path: Path,
) -> None:
    """A month no longer in the embeddings (an erased account's only month) loses its memo,
    stray files go; a part not written by ``embed`` (no footer naming its rows) is assigned
    every run and never stored."""
    posts = _posts(90)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)
    memo = tmp_path / "memo"
    _run(posts, folder, fit, memo)
    (memo / "2023-12.soft.tmp").write_text("a killed run's")
    later = posts.filter(pl.col("created_at") >= datetime(2024, 2, 1, tzinfo=UTC))
    _embed(later, folder)
    _same(_run(later, folder, fit, memo), _run(later, folder, fit, None))
    assert sorted(f.name for f in memo.iterdir()) == [
        f"2024-0{m}.{kind}.parquet" for m in (2, 3) for kind in ("soft", "sums")
    ]
    bare = folder / "2024-03.parquet"
    pl.read_parquet(bare).write_parquet(bare)  # the same rows, no footer
    _same(_run(later, folder, fit, memo), _run(later, folder, fit, None))
    assert sorted(f.name for f in memo.iterdir()) == [
        "2024-02.soft.parquet",
        "2024-02.sums.parquet",
    ]


def test_the_footer_keys_are_the_embed_stages() -> None:
    assert embed_stage.PART_DIGEST.encode() == topics_months.PART_DIGEST
    assert embed_stage.PART_VECTORS.encode() == topics_months.PART_VECTORS


def test_a_part_written_again_or_a_damaged_memo_is_assigned_again(
    tmp_path: Path, monkeypatch
) -> None:
    """The part's footer names its rows and texts, not its vectors: a part written again with
    the same footer (vectors encoded elsewhere, `dvc pull`) is assigned again. A memo page
    damaged under an intact footer is assigned again, not a failed run."""
    posts = _posts(90)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)
    memo = tmp_path / "memo"
    _run(posts, folder, fit, memo)
    part = folder / "2024-02.parquet"
    footer = {
        k.decode(): v.decode() for k, v in (pq.ParquetFile(part).metadata.metadata or {}).items()
    }
    table = pl.read_parquet(part)
    moved = table.with_columns(pl.col("embedding").arr.eval(pl.element() * 1.5 + 0.25))
    moved.write_parquet(
        part, metadata={k: v for k, v in footer.items() if k.startswith("resonance")}
    )
    read = _months_read(monkeypatch)
    _same(_run(posts, folder, fit, memo), _run(posts, folder, fit, None))
    assert read == ["2024-02", "2024-01", "2024-02", "2024-03"]

    soft = memo / "2024-01.soft.parquet"
    data = bytearray(soft.read_bytes())
    data[8:48] = bytes(40)  # a page damaged, the footer intact
    soft.write_bytes(bytes(data))
    read.clear()
    _same(_run(posts, folder, fit, memo), _run(posts, folder, fit, None))
    assert read[0] == "2024-01"


def test_the_key_holds_the_code_and_the_read_size(tmp_path: Path, monkeypatch) -> None:
    """A fix to the assignment's code, or another read size (it moves the batches' bounds),
    never reads a memo of the former."""
    posts = _posts(30)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)
    before = topics_months.fit_key(fit, P)
    assert topics_months.fit_key(fit, P) == before
    monkeypatch.setattr(vectors, "READ_ROWS", 4)
    assert topics_months.fit_key(fit, P) != before
    monkeypatch.undo()
    edited = tmp_path / "vectors.py"
    edited.write_bytes(Path(vectors.__file__).read_bytes() + b"\n# a fix\n")
    fake = type("Module", (), {"__file__": str(edited)})
    monkeypatch.setattr(
        topics_months, "CODE", (*topics_months.CODE[:1], fake, *topics_months.CODE[2:])
    )
    assert topics_months.fit_key(fit, P) != before


def test_the_metrics_record_the_attribution_rule_of_their_counts(tmp_path: Path) -> None:
    """The writeup prints the evidence rule beside the attribution counts: from topics.json,
    the params this run applied (params.yaml may have changed since)."""
    posts = _posts(30)
    folder = _embed(posts, tmp_path / "embeddings")
    fit = fit_stage.fit(posts, folder, P, space=SPACE)
    p = P.model_copy(update={"min_posts": 5, "min_engagers": 4, "min_ci_low": 1.2})
    rule = _run(posts, folder, fit, None, p)["metrics"]["attribution_rule"]
    assert rule == {"min_posts": 5, "min_engagers": 4, "min_ci_low": 1.2, "interval": 0.9}
