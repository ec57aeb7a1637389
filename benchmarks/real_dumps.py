"""The whole pipeline (`dvc repro`, demo stage to report) on each shared real dump, and on all at once.

For each dump: a fresh copy of the project (tracked and untracked-but-not-ignored files, as the
integration test makes it) with ``source`` pointed at the dump, ``dvc repro``, ``resonance
audit``; then it prints posts read / accepted / rejected (and that they reconcile), participants,
topics, the recommended model and seconds per stage. The embedding cache is shared between the
copies (``embed.cache_dir``), so each text is encoded once across the runs. Figures only: it
gates nothing, and exits non-zero if a run fails, counts do not reconcile or the audit has hits.

    .venv/bin/python benchmarks/real_dumps.py [--only beer,usenet] [--skip-all] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script: benchmarks/real_dumps.py

# The project copy and the folder -> source.format mapping are the tests' own (one definition).
from analysis import paths  # noqa: E402
from benchmarks.common import StageClock  # noqa: E402
from tests.integration.test_pipeline import copy_project  # noqa: E402
from tests.realdata.test_ingest_real import DUMPS  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"


def spec(folder: str) -> dict[str, str]:
    """A ``source`` entry for one shared dump."""
    name = re.sub(r"[^a-z0-9]+", "_", folder.split("-", 1)[-1].lower()).strip("_")
    return {"format": DUMPS[folder], "path": str(REAL / folder), "name": name}


def run_one(label: str, sources: list[dict[str, str]], workdir: Path, cache: Path) -> dict:
    """``dvc repro`` + audit on one project copy; returns what the run measured."""
    project = workdir / label
    shutil.rmtree(project, ignore_errors=True)  # a kept folder from an earlier run
    project.mkdir(parents=True)
    copy_project(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["source"].update(sources[0])
    params["source"]["extra"] = sources[1:]
    params["source"]["truth_path"] = None  # a real dump has no planted ground truth
    params["embed"]["cache_dir"] = str(cache)
    params["privacy"]["key_source"] = "secret"  # the published demo key is refused for real dumps
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the stages run `python -m analysis`: this interpreter's folder first on PATH (the venv)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": path, "HF_HUB_OFFLINE": "1"}
    env.setdefault("RESONANCE_KEY", "real-dumps-check-key-0123456789abcdef")
    started = time.perf_counter()
    clock = StageClock()
    proc = subprocess.Popen(
        ["dvc", "repro"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-39:], line]
        clock.line(line)
    rc = proc.wait()
    clock.stop()
    out: dict = {"label": label, "rc": rc, "seconds": time.perf_counter() - started}
    out["stages"] = {k: round(v, 1) for k, v in clock.seconds.items()}
    if rc != 0:
        out["tail"] = "".join(tail)
        return out
    audit = subprocess.run(
        [sys.executable, "-m", "analysis", "audit"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    out["audit_rc"] = audit.returncode
    metrics = project / "reports" / "metrics"
    ingest = json.loads((metrics / "ingest.json").read_text())
    # ingest.json suppresses small counts (and the totals that would give them back): the
    # reconciliation is checked on the full counts, which stay on the machine
    counts = json.loads((project / paths.INGEST_COUNTS).read_text())["sources"]
    parts = ("accepted", "rejected", "removed_privacy", "merged_nonparticipant")
    posts = {k: sum(c["posts"][k] for c in counts.values()) for k in ("read", *parts)}
    out["posts"] = posts
    out["reconciled"] = posts["read"] == sum(posts[k] for k in parts)
    out["participants"] = ingest["n_participants"]
    topics = json.loads((metrics / "topics.json").read_text())
    out["topics"] = topics.get("n_topics")
    out["nmi_vs_labels"] = (topics.get("vs_labels") or {}).get("nmi")
    compare = json.loads((metrics / "compare.json").read_text())
    out["recommended"] = compare.get("recommended_model")
    # the headline test in full (reports/metrics/models.json holds only its coefficients)
    validity = json.loads((project / paths.VALIDITY).read_text())
    wt = validity.get("within_thread") or {}
    out["within_thread"] = {
        "n_responses": wt.get("n_responses"),
        "n_competitions": wt.get("n_competitions"),
        "skipped": wt.get("skipped"),
        "coef": {
            m: {
                o: None if not r else [round(r[k], 3) for k in ("coef", "ci_low", "ci_high")]
                for o, r in (per or {}).items()
                if r is None or r.get("ci_low") is not None
            }
            for m, per in (wt.get("models") or {}).items()
        },
        "dissociation": {k: v.get("verdict") for k, v in (wt.get("dissociation") or {}).items()},
    }
    out["report_bytes"] = (project / "reports" / "index.html").stat().st_size
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated folder names (or substrings)")
    ap.add_argument("--skip-all", action="store_true", help="skip the all-dumps-at-once run")
    ap.add_argument("--skip-each", action="store_true", help="skip the one-dump-at-a-time runs")
    ap.add_argument("--keep", type=Path, help="keep the project copies in this folder")
    a = ap.parse_args(argv)
    if not REAL.exists():
        print(f"{REAL} is absent: nothing to run")
        return 0
    folders = [f for f in DUMPS if (REAL / f).exists()]
    if a.only:
        folders = [f for f in folders if any(o in f for o in a.only.split(","))]
    runs = [] if a.skip_all else [("all", [spec(f) for f in folders])]
    if not a.skip_each:
        runs += [(f, [spec(f)]) for f in folders]
    workdir = a.keep or Path(tempfile.mkdtemp(prefix="resonance-real-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "embedding-cache"
    failed = 0
    try:
        for label, sources in runs:
            r = run_one(label, sources, workdir, cache)
            ok = r["rc"] == 0 and r.get("audit_rc") == 0 and r.get("reconciled")
            failed += not ok
            print(json.dumps(r, default=str), flush=True)
    finally:
        if a.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(runs) - failed} of {len(runs)} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
