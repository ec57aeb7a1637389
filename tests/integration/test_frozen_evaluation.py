"""The method's evaluation and the topic fit on a schedule: ``dvc freeze topic_fit validate
compare``, then ``dvc repro``.

On a copy of the built demo project: the frozen stages keep their results, everything else
(scores, the reach-by-conversation divergence, the report) follows the new scoring date, and
the report and the writeup say that the evaluation is of another date. A key rotation does
not reach the frozen ``compare``, whose changes table lists accounts by pseudonym: the report
refuses to render and ``resonance audit`` names the file. The frozen topic fit holds no
pseudonym: ``topics`` assigns the re-keyed posts by it, to the very same topics.
``resonance forget`` unfreezes them all, since erasure must reach every output. A raised
``privacy.min_cell_k`` does not reach a frozen stage either: the report refuses its outputs.
"""

from __future__ import annotations

import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.project import GROUPS, copy_built, run

pytestmark = pytest.mark.slow


@pytest.mark.xdist_group(GROUPS["other_key"])
def test_a_frozen_evaluation_is_kept_and_said_and_forget_unfreezes_it(
    tmp_path_factory, tmp_path: Path
) -> None:
    import polars as pl

    from analysis.stages.forget import frozen_stages

    project = copy_built(tmp_path_factory, tmp_path / "frozen")
    processed = project / "data/processed"
    kept = {f: (processed / f).read_bytes() for f in ("validity.json", "compare.json")}
    evaluated = json.loads(kept["validity.json"])["as_of"]
    fitted = {f: (processed / f).read_bytes() for f in ("topic_model.json", "topics.parquet")}
    run(["dvc", "freeze", "topic_fit", "validate", "compare"], project)
    assert frozen_stages(project) == ["topic_fit", "validate", "compare"]

    # a scoring date a week before the last post: the scores and the divergence move
    posts = pl.read_parquet(project / "data/interim/posts.parquet", columns=["created_at"])
    last = posts["created_at"].max()
    as_of = (last - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["as_of"] = as_of.isoformat()
    # only the two models the divergence reads: the others would only cost time
    two = (params["divergence"]["reach_model"], params["divergence"]["conversation_model"])
    params["models"]["scored"] = {m: params["models"]["scored"][m] for m in two}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], project).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert {"score", "divergence", "report"} <= ran
    # the score folder is rebuilt: the dropped models' files go with it
    assert sorted(f.stem for f in (processed / "scores").glob("*.parquet")) == sorted(two)
    assert not ran & {"topic_fit", "topics", "validate", "compare"}, out
    for name, data in kept.items():
        assert (processed / name).read_bytes() == data, name
    divergence = json.loads((processed / "divergence.json").read_text())
    assert divergence["as_of"] != evaluated  # the split follows the scores

    md = (project / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "stages `validate` and `compare`" in notice and "divergence" not in notice.split(")")[0]
    assert "posts after it" in notice  # the scores are of the earlier date here
    # the frozen stages evaluated the nine models of models.scored, the scores are of two now:
    # each says so (models.as_of is the date's notice, never a params change)
    changed = md.split("> **Evaluation under other parameters.**")[1:]
    assert len(changed) == 2, md[:3000]
    for stage_name, text in zip(("validate", "compare"), changed, strict=True):
        line = text.split("\n")[0]
        assert f"(stage `{stage_name}`)" in line and "`models.scored." in line
        assert "models.as_of" not in line
    page = (project / "reports/index.html").read_text()
    assert page.count('class="note stale"') == 3

    # privacy.min_cell_k raised: the frozen fit's keywords and compare's gates were published
    # at the old k (and, the report run alone, topic_eval's headline too): it refuses before
    # writing anything and names them all, with one command
    k = params["privacy"]["min_cell_k"]
    raised = {**params, "privacy": {**params["privacy"], "min_cell_k": k + 5}}
    (project / "params.yaml").write_text(yaml.safe_dump(raised, sort_keys=False))
    before = {f: f.read_bytes() for f in (project / "reports").rglob("*.md")}
    proc = run([sys.executable, "-m", "analysis", "report"], project, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said[-2000:]
    for stage_name in ("topic_fit", "topic_eval", "compare"):
        assert f"stage {stage_name} hid groups of fewer than {k} accounts" in said, said[-2000:]
    assert "dvc unfreeze topic_fit topic_eval compare && dvc repro" in said
    assert {f: f.read_bytes() for f in (project / "reports").rglob("*.md")} == before
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # a key rotation re-runs ingest and everything unfrozen; the frozen compare still lists
    # re-scored accounts under the old key: the report refuses, the audit names the file
    rotated = {"RESONANCE_KEY": secrets.token_hex(24)}
    params["privacy"]["key_source"] = "secret"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run(["dvc", "repro"], project, check=False, extra=rotated)
    assert proc.returncode != 0, proc.stdout[-2000:]
    said = proc.stdout + proc.stderr
    assert "Running stage 'ingest'" in said and "report failed:" in said, said[-3000:]
    assert "changes.parquet (stage compare) names" in said and "the current data does not" in said
    assert "dvc unfreeze compare && dvc repro" in said
    # the topics were assigned again under the new key by the frozen fit: the same topics
    assert "Running stage 'topics'" in said and "Running stage 'topic_fit'" not in said
    for name, data in fitted.items():
        assert (processed / name).read_bytes() == data, name
    tm = json.loads((project / "reports/metrics/topics.json").read_text())
    assert tm["fit"]["n_posts_after_fit"] == 0
    assert tm["fit"]["n_posts_fitted"] == tm["fit"]["n_posts_assigned"]
    audit = run([sys.executable, "-m", "analysis", "audit"], project, check=False, extra=rotated)
    assert audit.returncode == 1
    stale = {
        ln.split(" [")[0].removeprefix("audit hit: ")
        for ln in audit.stderr.splitlines()
        if ln.startswith("audit hit: ") and "of no current account" in ln
    }
    # the frozen changes table alone
    assert stale == {"data/processed/counterfactual_changes.parquet"}, stale

    # erasure outranks the schedule: forget unfreezes, so the next repro rebuilds everything
    accounts = pl.read_parquet(project / "data/raw/demo/accounts.parquet")
    handle = accounts.filter(pl.col("handle").is_not_null())["handle"][0]
    run([sys.executable, "-m", "analysis", "forget", handle], project, extra=rotated)
    assert frozen_stages(project) == []
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert not any(s.get("frozen") for s in stages.values())
