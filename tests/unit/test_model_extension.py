"""A ninth model is one module plus one params line (docs/adding-a-model.md, run as written).

The worked example of the docs is written into a folder added to the ``analysis.models``
package path (standing in for ``src/analysis/models/``), named in ``models.scored`` and run
through the score and compare stages; DVC's own parser finds it in the score stage's deps.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

import analysis.models
from analysis import paths
from analysis.io import write_parquet
from analysis.models import MODELS, conform, get
from analysis.models.params import model_params

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-a-model.md"
NAME = "replied_share"


def _example() -> str:
    """The module of the worked example: the one ```python block of the docs."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/adding-a-model.md: expected one python block"
    return blocks[0]


@pytest.fixture
def ninth_model(tmp_path, monkeypatch):
    """``analysis.models.replied_share`` exists, as if saved in src/analysis/models/."""
    folder = tmp_path / "models_pkg"
    folder.mkdir()
    (folder / f"{NAME}.py").write_text(_example(), encoding="utf-8")
    monkeypatch.setattr(analysis.models, "__path__", [*analysis.models.__path__, str(folder)])
    yield folder
    sys.modules.pop(f"analysis.models.{NAME}", None)


def test_the_registry_finds_the_new_module_by_its_name(ninth_model):
    assert NAME in MODELS
    model = get(NAME)
    assert model.NAME == NAME and set(model.COMPONENTS) == {"c_replied"}
    assert NAME in list(MODELS)


def test_a_params_line_for_it_validates_and_a_typo_in_it_fails(ninth_model, demo_tables):
    tables, as_of = demo_tables
    p = model_params({"models": {"scored": {"volume": {}, NAME: {"prior_posts": 2}}}})
    assert p.names == ("volume", NAME)
    bad = model_params({"models": {"scored": {NAME: {"prior_post": 2}}}})
    with pytest.raises(ValueError, match=r"models.scored.replied_share: 'prior_post'.*prior_posts"):
        get(NAME).score(tables, bad, as_of)


def test_without_its_module_the_line_is_refused():
    with pytest.raises(ValueError, match=r"unknown model 'replied_share'.*known models: "):
        model_params({"models": {"scored": {NAME: {}}}})


def test_a_module_missing_part_of_the_protocol_is_refused(tmp_path):
    import types

    half = types.ModuleType("half")
    half.NAME, half.TITLE, half.UNIT, half.OBS = "half", "Half", "u", "o"
    half.COMPONENTS = {"replies": "not a c_ column"}
    half.score = lambda tables, params, as_of: None
    with pytest.raises(TypeError, match="missing Params"):
        conform(half)
    half.Params = dict
    with pytest.raises(
        TypeError, match=r"COMPONENTS must map 'c_<name>'.*Params must be a pydantic"
    ):
        conform(half)


@pytest.fixture
def demo_tables(small_demo):
    from analysis.demo_check import tables_from_demo
    from analysis.models import common

    tables = tables_from_demo(small_demo)
    return tables, common.resolve_as_of(model_params(None), tables.posts)


def test_score_and_compare_stages_run_it(ninth_model, small_demo, tmp_path, monkeypatch):
    from analysis.demo_check import tables_from_demo
    from analysis.stages import compare as compare_stage
    from analysis.stages import score as score_stage
    from analysis.stages import validate as validate_stage

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    tables = tables_from_demo(small_demo)
    for name, path in paths.INTERIM_TABLES.items():
        write_parquet(getattr(tables, name), path)
    params = {
        "source": {"format": "canonical", "path": "data/raw/demo", "truth_path": None},
        "models": {
            "scored": {"volume": {}, "reach": {}, "conversation": {}, NAME: {"prior_posts": 3}}
        },
        "validate": {"origins": 1, "n_boot": 10, "n_placebo": 1},
        "compare": {
            "n_boot": 20,
            "counterfactual": {
                "n_sample": 10,
                "n_boot": 20,
                "n_targets": 3,
                "gaming_multipliers": [1.0],
                "spam_replier_shares": [0.1],
                "reply_all_sizes": [10],
                "self_chain_lengths": [5],
                "exchange_lengths": [5],
                "puppet_sizes": [5],
                "ring_sizes": [5],
            },
        },
    }
    assert score_stage.run(params, argparse.Namespace(models=[])) == 0
    assert sorted(f.stem for f in paths.SCORES.glob("*.parquet")) == sorted(
        model_params(params).names
    )
    scores = pl.read_parquet(paths.score_file(NAME))
    assert scores["model"].unique().to_list() == [NAME]
    assert scores.height == tables.participants().height
    assert scores["c_replied"].is_between(0, 1).all() and scores["score"].n_unique() > 5

    assert validate_stage.run(params, argparse.Namespace()) == 0
    assert NAME in paths.VALIDITY.read_text()  # validated beside the others
    assert compare_stage.run(params, argparse.Namespace()) == 0
    result = yaml.safe_load(paths.COMPARE_RESULT.read_text())
    assert NAME in result["models"]
    assert NAME in result["robustness"]
    # the validate section of the validity its recommendation rests on is recorded (a frozen
    # compare beside a validate re-run with other params is named by the report), as validate
    # ran it: a validate edited since (and frozen) leaves the validity as it was
    assert result["params"]["validate"] == params["validate"]
    edited = {**params, "validate": {**params["validate"], "n_boot": 11}}
    assert compare_stage.run(edited, argparse.Namespace()) == 0
    assert (
        yaml.safe_load(paths.COMPARE_RESULT.read_text())["params"]["validate"]
        == (params["validate"])
    )
    assert NAME in yaml.safe_load(paths.COMPARE_METRICS.read_text())["gates_failed"]
    gaming = pl.read_csv(paths.COMPARE_PLOTS / "gaming.csv")
    assert NAME in gaming["model"].to_list()


def test_its_module_and_its_params_line_are_deps_of_the_score_stage(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"]["scored"][NAME] = {"prior_posts": 5}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=project, check=True)
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        stages = {s.name: s for s in repo.index.stages}
    stage = stages["score"]
    assert stage.cmd == "python -m analysis score"  # every model of models.scored
    # its module, saved where the registry looks (the package's own folder), is in a folder the
    # stage depends on, and DVC reads its params line among the stage's params
    package = Path(analysis.models.__path__[0]).resolve().relative_to(ROOT).as_posix()
    assert package in [d.def_path for d in stage.deps]
    (params_dep,) = [d for d in stage.deps if isinstance(d, ParamsDependency)]
    assert params_dep.read_params()["models.scored"][NAME] == {"prior_posts": 5}
    outs = [o.def_path for o in stage.outs]
    assert outs == [paths.SCORES.as_posix(), paths.SCORES_METRICS.as_posix()]
