"""dvc.yaml agrees with the code: each stage's deps, outs and params are what its code uses.

The stages come from DVC itself (foreach expanded, params interpolated); what the code uses
comes from reading it (``tests/dvc_wiring.py``). A dep the code never touches re-runs a stage
for nothing; a file the code reads that is not a dep leaves a stale output behind.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml

from analysis import paths
from analysis.models.params import SCORE_SHARED_KEYS, model_params
from tests.dvc_wiring import SRC, stage_code

ROOT = SRC.parent
#: Params sections that change how a stage runs, not its outputs.
NOT_A_DEPENDENCY = {"compute"}
#: Keys of a section that change how, not what (tests/unit/test_ingest_engines.py checks that
#: both ingest engines write the same tables): the stage lists every other key of the section.
HOW_NOT_WHAT = {"ingest": {"engine", "batch_rows", "streaming_above_posts"}}
#: Files a stage writes only so that DVC re-runs the next one (ingest never reads inputs.json:
#: it holds the key fingerprint and the dumps' digests, which change when ingest must re-run).
TRIGGERS = {paths.INPUTS.as_posix()}
#: Memos a stage keeps beside its outputs (``paths.CACHES``): neither deps nor outs (DVC must
#: not hash, cache or restore them; deleting one costs time, never a result).
CACHES = {c.as_posix() for c in paths.CACHES}
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _stages() -> dict[str, dict[str, list[str]]]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    out = {}
    with Repo(str(ROOT)) as repo:
        for st in repo.index.stages:
            deps, params = [], []
            for d in st.deps:
                if isinstance(d, ParamsDependency):
                    params += list(d.params)
                else:
                    deps.append(d.def_path)
            out[st.name] = {
                "cmd": st.cmd,
                "deps": deps,
                "outs": [o.def_path for o in st.outs],
                "params": params,
            }
    return out


STAGES = _stages()


def _under(path: str, folder: str) -> bool:
    return (
        PurePosixPath(path) == PurePosixPath(folder)
        or PurePosixPath(folder) in PurePosixPath(path).parents
    )


def _code(name: str):
    # the score stage loads the models of params by name
    return stage_code(name, tuple(model_params(PARAMS).names) if name == "score" else ())


def test_every_stage_runs_its_own_module():
    for name, st in STAGES.items():
        assert st["cmd"] == f"python -m analysis {name}", name
        assert (SRC / "analysis" / "stages" / f"{name}.py").exists(), name


def test_one_score_stage_runs_every_model_of_params():
    # one process for every model (the stage's fixed costs once); a model is a file in the
    # folder it depends on and writes, never a stage of its own
    assert not [n for n in STAGES if "@" in n]
    st = STAGES["score"]
    assert st["outs"] == [paths.SCORES.as_posix(), paths.SCORES_METRICS.as_posix()]
    assert "src/analysis/models" in st["deps"]
    # every model of params is a module in that folder (the registry's name for it)
    for name in model_params(PARAMS).names:
        assert (ROOT / "src/analysis/models" / f"{name}.py").exists(), name


@pytest.mark.parametrize("name", list(STAGES))
def test_module_deps_are_exactly_the_imported_modules(name):
    code = _code(name)
    src_deps = [d for d in STAGES[name]["deps"] if d.startswith("src/")]
    files = {f.relative_to(ROOT).as_posix() for f in code.files}
    missing = sorted(f for f in files if not any(_under(f, d) for d in src_deps))
    assert not missing, f"{name} imports modules dvc.yaml does not list: {missing}"
    unused = [d for d in src_deps if not any(_under(f, d) for f in files)]
    assert not unused, f"{name} lists modules it never imports: {unused}"


def _data(paths_: list[str]) -> list[str]:
    return [p for p in paths_ if not p.startswith("src/")]


@pytest.mark.parametrize("name", list(STAGES))
def test_data_deps_and_outs_are_the_paths_the_code_uses(name):
    code = _code(name)
    st = STAGES[name]
    truth = PARAMS["source"].get("truth_path")
    declared = [
        p
        for p in _data(st["deps"]) + st["outs"]
        if p not in (PARAMS["source"]["path"], truth)  # chosen in params (below)
    ]
    if name != "inputs":
        declared = [p for p in declared if p not in TRIGGERS]
    assert not any(_under(d, c) for d in _data(st["deps"]) + st["outs"] for c in CACHES), (
        f"{name}: a memo ({sorted(CACHES)}) is declared as a dep or an out"
    )
    # every path the code names is in dvc.yaml (or is a folder the code builds names in)
    for used in (u for u in code.paths if u not in CACHES):
        ok = any(_under(used, d) or _under(d, used) for d in declared)
        if used in (paths.DEMO_RAW.as_posix(), paths.DEMO_TRUTH.as_posix()) and not ok:
            ok = name == "demo" or used == truth  # the demo writes them; others via params
        assert ok, f"{name}: the code uses {used}, which dvc.yaml does not list"
    # every path dvc.yaml lists is one the code names (a file in a folder it names counts)
    for d in declared:
        assert any(_under(d, used) or _under(used, d) for used in code.paths), (
            f"{name}: dvc.yaml lists {d}, which the code never uses"
        )


def test_paths_chosen_in_params_are_deps_of_the_stages_that_read_them():
    src, truth = PARAMS["source"]["path"], PARAMS["source"].get("truth_path")
    assert src in STAGES["inputs"]["deps"]
    for name, st in STAGES.items():
        reads_truth = "analysis.groundtruth" in _code(name).modules
        if truth is not None:
            assert (truth in st["deps"]) == reads_truth, (name, truth)


@pytest.mark.parametrize("name", list(STAGES))
def test_params_sections_are_those_the_code_reads(name):
    code = _code(name)
    sections = {p.split(".")[0] for p in STAGES[name]["params"]}
    # `compute` says where the work runs, never what it computes (tests/unit/test_compute.py
    # checks that both engines write the same outputs): switching it must re-run nothing
    assert sections == code.sections - NOT_A_DEPENDENCY, (
        f"{name}: dvc.yaml params sections {sorted(sections)}, code reads {sorted(code.sections)}"
    )
    for key in STAGES[name]["params"]:
        node = PARAMS
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{name}: no params key {key}"
            node = node[part]


def test_keys_that_change_how_are_not_dependencies():
    from analysis.config import IngestParams

    fields = {"ingest": set(IngestParams.model_fields)}
    for section, how in HOW_NOT_WHAT.items():
        assert how <= fields[section], f"{section}: no such keys {sorted(how - fields[section])}"
        for name, st in STAGES.items():
            keys = [p for p in st["params"] if p.split(".")[0] == section]
            if not keys:
                continue
            # a new key of the section is a dependency until someone decides otherwise
            assert sorted(keys) == sorted(f"{section}.{k}" for k in fields[section] - how), (
                f"{name}: lists {keys}; expected every {section} key but {sorted(how)}"
            )


def test_the_score_stage_reads_the_shared_keys_and_the_models_lines_only():
    # and the topics section: a score at a models.as_of before the topic fit's latest post
    # refits the topics on the posts before it (stages/scoring_topics.py)
    expected = [f"models.{k}" for k in SCORE_SHARED_KEYS] + ["models.scored", "topics"]
    assert STAGES["score"]["params"] == expected
    read = _code("score").model_keys
    assert read <= set(SCORE_SHARED_KEYS), f"score reads models.{sorted(read)}"
    # and none of the validate-only keys: editing them re-runs no scorer
    assert not read & {"validate_delta_days", "roles_positive", "roles_negative"}


def test_no_path_literal_left_in_stage_code():
    for f in (SRC / "analysis" / "stages").glob("*.py"):
        text = f.read_text(encoding="utf-8")
        for prefix in ('"data/', '"reports/'):
            assert prefix not in text, f"{f.name} spells a path; use analysis.paths"


def test_dvc_yaml_never_names_a_model():
    text = (ROOT / "dvc.yaml").read_text()
    names = list(model_params(PARAMS).names)
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    for n in names:
        hits = [ln for ln in lines if f"/{n}." in ln or f"[{n}" in ln or f" {n}," in ln]
        assert not hits, f"dvc.yaml names model {n}: {hits}"


def test_bytecode_caches_are_not_part_of_a_folder_dependency() -> None:
    """Stages depend on whole source folders (src/analysis/models); Python writes its bytecode
    caches there (``make`` allows it), and DVC reads no .gitignore: without .dvcignore every
    stage on such a folder would count as changed after the first import."""
    import shutil
    import subprocess

    from tests.conftest import ROOT

    dvc = shutil.which("dvc")
    if dvc is None:
        pytest.skip("dvc is not on PATH")
    for path in (
        "src/analysis/models/__pycache__/common.cpython-311.pyc",
        "src/analysis/sources/__pycache__/x.pyc",
        "src/analysis/report/loose.pyc",
    ):
        proc = subprocess.run([dvc, "check-ignore", path], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, (path, proc.stdout, proc.stderr)
    kept = subprocess.run(
        [dvc, "check-ignore", "src/analysis/models/common.py"], cwd=ROOT, capture_output=True
    )
    assert kept.returncode == 1
