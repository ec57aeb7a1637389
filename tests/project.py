"""One built demo project per test session, shared by every slow test.

``built_project`` copies the repository into a temporary git repository, sets the small demo
params (``SMALL``) and runs ``dvc repro`` once. Every xdist worker gets the same folder: it lives
beside the workers' own temp folders and a file lock makes the others wait for the first build
(the pattern pytest-xdist documents for session fixtures). Tests that only read it use it as is;
tests that change it (erasure, key rotation, another key) take ``copy_built``: a copy of the
built project, DVC cache and embedding cache included, so nothing is embedded twice and a
``dvc repro`` there re-runs only what the change affects.

``make test`` runs two xdist workers with ``--dist loadgroup``: each group of tests runs on one
worker, and the groups named in ``tests/xdist_groups.FIRST`` are handed out first, in that
order, then everything else. ``GROUPS`` splits the tests on the built project in three so that
the three long items (the browser test; the other-key run, a ``dvc repro`` of every stage
from ingest but the report, and the erasure run, of every stage: 1-2 min each in CI) spread
over both workers: "reads" (browser, notebooks, report outputs) goes first to one worker,
which builds the project (~2 min) and reads it; meanwhile the other runs the groups that do
not need it (the static model, the dask cluster, determinism, the attack bench: about as long
as the build), then "changes" (pipeline checks, key rotation, erasure); "other_key" goes to
whichever is free next.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import ROOT

SMALL = {
    # compare's hidden-trait check regenerates and scores the demo at each correlation of the
    # grid (~1 s each): three of the default five, both ends and the middle
    "demo": {
        "seed": 11,
        "n_accounts": 60,
        "n_days": 60,
        "start": "2026-03-02",
        "trait_grid": [0.0, 0.5, 1.0],
    },
    # one torch thread: the other worker holds the second core (vectors are the same)
    "embed": {"threads": 1},
    # k by silhouette over three values, not the default eight: topic_fit chooses k once and
    # validate again at each of its six cut-offs, every value a seeded k-means and a silhouette
    # (the same code, test_topics.py). The demo's k is 15 under both grids (its cut-offs 15 or
    # 20 here, 15 or 30 under the default's). validate 19-21 -> 12.5-13.3 s a run (28-31 ->
    # 17-18 CPU-s), topic_fit 10-11.7 -> 8-8.5 CPU-s.
    "topics": {"k_grid": [10, 15, 20]},
    # Accounts altered per model run: the default (null) re-scores each alone, which on this
    # demo is several hundred model runs; the built project's tests read the stage's outputs,
    # not its design (tests/unit/test_counterfactual.py checks that), so they batch: 0.5 of
    # the 58 participants is 29 accounts per run, the same 725 altered accounts in 31
    # re-scorings instead of 59 at 0.3 (compare 17.5 -> 13.8 s a run).
    # Bootstrap draws of validate's and compare's intervals: these tests read that the stages
    # write them (and the same under another key, after erasure, in memory), not how narrow
    # they are; the code is the same for 50 (compare) or 20 (validate, whose fits are the bulk
    # of its time: 18.8 -> 14.7 s a run against 50) draws as for the default 200 (the unit tests
    # of the fits check the intervals: test_poisson_irls.py, test_compare.py,
    # test_baselines_never_candidates.py). Each pipeline run ~25 s shorter than at 200.
    # Adversaries at the one strength their gate reads (compare.gates.adversaries.*.at: the
    # gates and the recommendation are those of the full curves; the curves' other points are
    # the same code, test_counterfactual.py): 34 re-scorings a run instead of 97 (batches of
    # 0.3), compare 17.4 -> 12.8 s on the built project.
    "compare": {
        "counterfactual": {
            "batch_share": 0.5,
            "gaming_multipliers": [1.0],
            "spam_replier_shares": [0.1],
            "reply_all_sizes": [20],
            "self_chain_lengths": [10],
            "exchange_lengths": [20],
            "puppet_sizes": [20],
            "ring_sizes": [20],
        },
        "n_boot": 50,
    },
    "validate": {"n_boot": 20},
}
#: xdist groups of the tests on the built project (see above; their order: xdist_groups.FIRST)
GROUPS = {"reads": "report", "changes": "pipeline", "other_key": "key"}
#: seconds the shared build took (printed by the session fixture's users when asked)
TIMINGS: dict[str, float] = {}
_BUILT: dict[str, Path] = {}


def env() -> dict[str, str]:
    """The test environment, with this interpreter's bin folder (dvc) first on PATH."""
    out = dict(os.environ)
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out['PATH']}"
    out["HF_HUB_OFFLINE"] = "1"
    return out


def run(
    cmd: list[str], cwd: Path, check: bool = True, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` (the test environment, plus ``extra`` variables); on failure
    (``check``) raise with the tail of its output."""
    proc = subprocess.run(
        cmd, cwd=cwd, env={**env(), **(extra or {})}, capture_output=True, text=True, timeout=1800
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def copy_project(dest: Path) -> Path:
    """Copy the tracked and untracked-but-not-ignored files into a fresh git repository."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for sub in (".dvc/tmp", ".dvc/cache"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    (dest / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(
        ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "copy"],
        dest,
    )
    return dest


def set_params(project: Path, updates: dict) -> None:
    """Merge ``updates`` (section -> values) into the project's params.yaml.

    Nested sections merge key by key (``{"compare": {"counterfactual": {"batch_share": x}}}``
    changes that one value and keeps the section's others); any other value replaces.
    """
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    _merge(params, updates)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _merge(into: dict, updates: dict) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, dict):
            into[key] = {}
            _merge(into[key], value)
        else:
            into[key] = value


def shared_folder(tmp_path_factory) -> Path:
    """This session's temp folder that every xdist worker sees.

    Under xdist each worker's basetemp is ``<session>/popen-gwN``: the parent is the session's.
    """
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``<shared folder>/<name>``, made by ``build(folder)`` once per session for all workers.

    The first worker to ask builds it under a file lock while the others wait, then reuse it
    (the pattern pytest-xdist documents for session fixtures). A build that failed half-way is
    started again from an empty folder by the next caller.
    """
    from filelock import FileLock

    shared = shared_folder(tmp_path_factory)
    folder, done = shared / name, shared / f"{name}.built"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.write_text("ok")
    return folder


def _build_project(project: Path) -> None:
    copy_project(project)
    # the session's secret key (conftest), so that rotating it re-runs ingest
    set_params(project, {**SMALL, "privacy": {"key_source": "secret"}})
    started = time.perf_counter()
    run(["dvc", "repro"], project)
    TIMINGS["dvc repro"] = round(time.perf_counter() - started, 1)


def built_project(tmp_path_factory) -> Path:
    """The demo project after ``dvc repro`` on ``SMALL``: built once per session, all workers."""
    if "project" not in _BUILT:
        _BUILT["project"] = build_once(tmp_path_factory, "demo_project", _build_project)
    return _BUILT["project"]


def copy_built(tmp_path_factory, dest: Path) -> Path:
    """A private copy of the built project (outputs, dvc.lock, DVC and embedding caches)."""
    source = built_project(tmp_path_factory)
    dvc_dir = source / ".dvc"

    def ignore(folder: str, names: list[str]) -> list[str]:
        # .dvc/tmp holds the source's locks and its mtime state: never shared
        return ["tmp"] if Path(folder) == dvc_dir and "tmp" in names else []

    with project_lock(tmp_path_factory):
        shutil.copytree(source, dest, ignore=ignore, symlinks=True)
    return dest


def project_lock(tmp_path_factory):
    """A file lock held while the built project is copied or run in place (``dvc repro``).

    Its users run on both workers: without it a copy could take a file another worker's
    ``dvc repro`` is rewriting (``dvc.lock``, ``data/interim/inputs.json``).
    """
    from filelock import FileLock

    return FileLock(str(shared_folder(tmp_path_factory) / "demo_project.busy.lock"))
