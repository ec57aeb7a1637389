"""The whole pipeline through `dvc repro` on a small demo, in a temporary copy of the project.

The project is built once per session and shared with the report tests (``tests/project.py``);
the tests that change it (another key, key rotation, erasure) work on their own copy of the
built project. The two long re-runs (another key, erasure: each a ``dvc repro`` of every stage
after ingest) are in different xdist groups, so that they run side by side on the two workers
(``tests/project.py``: GROUPS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.project import (
    GROUPS,
    SMALL,
    built_project,
    copy_built,
    copy_project,
    env,
    project_lock,
    run,
    set_params,
)

__all__ = ["SMALL", "copy_project", "run", "set_params"]  # also used by benchmarks/real_dumps.py

pytestmark = pytest.mark.slow
#: the pipeline checks and the erasure tests; the other-key run goes with the report tests
PIPELINE = pytest.mark.xdist_group(GROUPS["changes"])


def _env() -> dict[str, str]:
    return env()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The session's one built demo project (``tests/project.py``); tests here only read it."""
    return built_project(tmp_path_factory)


@PIPELINE
def test_repro_writes_interim_tables_and_reconciled_metrics(project: Path) -> None:
    for table in ("accounts", "posts", "reactions", "rejects"):
        assert (project / f"data/interim/{table}.parquet").exists()
    counts = json.loads((project / "data/interim/ingest_counts.json").read_text())["sources"]
    for table, c in counts["demo"].items():
        assert (
            c["read"]
            == c["accepted"] + c["rejected"] + c["removed_privacy"] + c["merged_nonparticipant"]
        ), table
    assert 2 <= counts["demo"]["accounts"]["removed_minor"] < 10
    # what git tracks hides the handful of minors, and every total that would give them back
    published = json.loads((project / "reports/metrics/ingest.json").read_text())
    demo = published["sources"]["demo"]
    assert demo["accounts"]["removed_minor"] is None
    assert demo["accounts"]["read"] is None and demo["posts"]["read"] is None
    assert demo["posts"]["removed_privacy"] is None  # the minors' posts cover < k accounts
    assert demo["posts"]["accepted"] == counts["demo"]["posts"]["accepted"]
    assert published["totals"]["accounts"]["read"] is None


@PIPELINE
def test_second_repro_reruns_nothing_but_the_input_check(project: Path, tmp_path_factory) -> None:
    with project_lock(tmp_path_factory):  # no copy of it meanwhile (tests/project.py)
        out = run(["dvc", "repro"], project).stdout
    ran = [line for line in out.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'inputs':"], out
    status = run(["dvc", "status"], project).stdout
    assert "ingest" not in status, status


@PIPELINE
def test_dvc_metrics_show_lists_the_ingest_metrics(project: Path) -> None:
    out = run(["dvc", "metrics", "show"], project).stdout
    assert "reports/metrics/ingest.json" in out


@PIPELINE
def test_audit_passes_on_the_outputs(project: Path) -> None:
    proc = run([sys.executable, "-m", "analysis", "audit"], project, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _numbers(obj, path=""):
    """Flatten a metrics JSON into path -> value, keeping numbers, booleans and short strings."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_numbers(v, f"{path}/{k}"))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{path}[{i}]"))
        return out
    return {path: obj}


@pytest.mark.xdist_group(GROUPS["other_key"])
def test_results_do_not_depend_on_the_key(project: Path, tmp_path_factory, tmp_path) -> None:
    """Same data and params under another secret key: identical metrics and recommendations.

    Pseudonyms change with the key; anything sorted or sampled by them would change the
    topics, the bootstrap draws and the recommendation (30 vs 15 topics before the fix).
    """
    other = copy_built(tmp_path_factory, tmp_path / "other")
    env = _env()
    env["RESONANCE_KEY"] = "another-key-" + "9f" * 24
    params = yaml.safe_load((other / "params.yaml").read_text())
    if "key_source" in (params.get("privacy") or {}):
        set_params(other, {"privacy": {"key_source": "secret"}})
    # every stage whose results are read below (and what they need); not the report, which
    # only renders them (its privacy under erasure: test_forget_erases_an_account_everywhere)
    read = ["topic_eval", "divergence", "validate", "compare"]
    proc = subprocess.run(
        ["dvc", "repro", *read], cwd=other, env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = {ln.split("'")[1] for ln in proc.stdout.splitlines() if ln.startswith("Running stage")}
    assert {"ingest", "topic_fit", "score", *read} <= ran, proc.stdout[-3000:]
    import polars as pl

    a = set(pl.read_parquet(project / "data/interim/accounts.parquet")["account_id"])
    b = set(pl.read_parquet(other / "data/interim/accounts.parquet")["account_id"])
    assert len(a & b) == 1, "the other key must give other pseudonyms"
    # the metrics and the full typed results of validate, compare, divergence and topic_eval
    # (the demo's planted-truth check, in topics.json before session 40)
    for name in (
        "reports/metrics/ingest.json",
        "reports/metrics/topics.json",
        "reports/metrics/topic_eval.json",
        "reports/metrics/models.json",
        "reports/metrics/compare.json",
        "reports/metrics/divergence.json",
        "data/processed/divergence.json",
        "data/processed/validity.json",
        "data/processed/compare.json",
        "data/processed/topic_eval.json",
    ):
        x = _numbers(json.loads((project / name).read_text()))
        y = _numbers(json.loads((other / name).read_text()))
        # digests of pseudonyms (removed accounts, key fingerprint) differ by design
        keyed = ("seconds", "fingerprint", "sha256")
        x = {k: v for k, v in x.items() if not any(w in k for w in keyed)}
        y = {k: v for k, v in y.items() if not any(w in k for w in keyed)}
        assert x.keys() == y.keys(), (name, sorted(x.keys() ^ y.keys())[:10])
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                assert y[k] == pytest.approx(x[k], rel=1e-6, abs=1e-9), (name, k, x[k], y[k])
            else:
                assert x[k] == y[k], (name, k, x[k], y[k])


@PIPELINE
def test_key_rotation_reruns_ingest_and_changes_every_pseudonym(tmp_path_factory, tmp_path) -> None:
    import polars as pl

    project = copy_built(tmp_path_factory, tmp_path / "rotated")

    before = set(pl.read_parquet(project / "data/interim/accounts.parquet")["account_id"])
    env = _env()
    import secrets

    rotated = "rotated-" + secrets.token_hex(16)
    env["RESONANCE_KEY"] = rotated
    proc = subprocess.run(
        ["dvc", "repro", "ingest"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Running stage 'ingest'" in proc.stdout
    after = set(pl.read_parquet(project / "data/interim/accounts.parquet")["account_id"])
    assert len(before & after) == 1  # only the non-participant placeholder is shared
    # the key itself is nowhere: not in outputs, dvc.lock, logs or the DVC cache
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.stat().st_size < 50_000_000:
            assert rotated.encode() not in path.read_bytes(), path


def _scan_outputs(project: Path, needles: set[str]) -> list[str]:
    """Every output file (and Parquet column) in which one of ``needles`` occurs."""
    import polars as pl

    found = []
    for folder in ("data/interim", "data/processed", "data/cache", "reports", "logs"):
        for path in sorted((project / folder).rglob("*")):
            if not path.is_file():
                continue
            if path.suffix == ".parquet":
                df = pl.read_parquet(path)
                for name, dtype in df.schema.items():
                    col = df[name].explode() if dtype == pl.List(pl.String) else df[name]
                    if col.dtype != pl.String:
                        continue
                    values = set(col.drop_nulls().unique().to_list())
                    hit = needles & values or {n for n in needles if any(n in v for v in values)}
                    if hit:
                        found.append(f"{path.relative_to(project)}[{name}]: {sorted(hit)[:3]}")
            else:
                data = path.read_bytes()
                hit = {n for n in needles if n.encode() in data}
                if hit:
                    found.append(f"{path.relative_to(project)}: {sorted(hit)[:3]}")
    return found


@PIPELINE
def test_forget_erases_an_account_everywhere(tmp_path_factory, tmp_path) -> None:
    """`resonance forget` + `dvc repro`: no pseudonym, post, text, embedding or edge remains."""
    import polars as pl

    project = copy_built(tmp_path_factory, tmp_path / "erased")

    from analysis import privacy

    key = os.environ["RESONANCE_KEY"].encode()
    raw_accounts = pl.read_parquet(project / "data/raw/demo/accounts.parquet")
    raw_posts = pl.read_parquet(project / "data/raw/demo/posts.parquet")
    truth = pl.read_parquet(project / "data/raw/demo_truth/accounts.parquet")
    expert = (
        truth.filter((pl.col("role") == "expert") & ~pl.col("is_minor"))
        .join(raw_posts.group_by("account_id").len(), on="account_id")
        .sort("len", descending=True)
        .row(0, named=True)
    )
    raw_id = expert["account_id"]
    handle = raw_accounts.filter(pl.col("account_id") == raw_id)["handle"].item()
    pseudonym = privacy.pseudonym(key, "demo", "account", raw_id, privacy.ACCOUNT_PREFIX)
    interim = pl.read_parquet(project / "data/interim/posts.parquet")
    mine = interim.filter(pl.col("account_id") == pseudonym)
    assert mine.height > 10, "the planted expert should have posts before erasure"
    others_texts = set(interim.filter(pl.col("account_id") != pseudonym)["text"].drop_nulls())
    distinctive = {t for t in mine["text"].drop_nulls() if t not in others_texts}
    post_ids = set(mine["post_id"])
    replies_to_it = interim.filter(pl.col("reply_to_account_id") == pseudonym).height
    assert replies_to_it > 0
    before = _scan_outputs(project, {pseudonym})
    assert before, "the pseudonym should be in the outputs before erasure"

    run([sys.executable, "-m", "analysis", "forget", handle], project)
    assert handle not in (project / "data/optout/opt_out.txt").read_text()
    run(["dvc", "repro"], project)

    after = pl.read_parquet(project / "data/interim/posts.parquet")
    # Another person's post can quote one of the erased person's texts inside a longer text of
    # their own ("Thanks <name> for the earlier advice. Same here. ..."): that is their post,
    # and it existed before the erasure under their own id, so it is not a remnant.
    others_after = after.filter(pl.col("account_id") != pseudonym)
    quoted = {t for t in distinctive if others_after["text"].str.contains(t, literal=True).any()}
    holders = others_after.filter(
        pl.any_horizontal(pl.col("text").str.contains(t, literal=True) for t in quoted)
        if quoted
        else pl.lit(False)
    )
    assert not set(holders["post_id"]) & post_ids
    assert set(holders["post_id"]) <= set(interim["post_id"])
    distinctive -= quoted
    leftovers = _scan_outputs(project, {pseudonym} | post_ids | distinctive)
    assert not leftovers, leftovers
    # the embedding cache holds content hashes, not texts: none of the erased texts' remains
    from analysis.embed_cache import text_key

    shards = sorted((project / "data/cache/embeddings").rglob("shard-*.parquet"))
    cached = set(pl.read_parquet(shards)["text_sha256"]) if shards else set()
    assert cached, "the cache should hold the remaining posts' vectors"
    assert not cached & {text_key(t) for t in distinctive}
    # others' replies to it stay (detached, addressed to the placeholder): only its own go
    assert after.height == interim.height - mine.height
    audit = run([sys.executable, "-m", "analysis", "audit"], project, check=False)
    assert audit.returncode == 0, audit.stderr[-2000:]
