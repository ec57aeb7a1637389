"""What each pipeline stage's code uses, found by reading the code (for ``test_dvc_wiring``).

Static, from the syntax tree of every ``analysis`` module a stage imports (directly or through
others; imports under ``if TYPE_CHECKING:`` do not run and are left out): the modules, the
``analysis.paths`` names and path literals it refers to, and the params sections it reads.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from analysis import paths
from analysis.models.params import ModelParams

#: The ``models`` keys shared by all models (``scored`` aside: the models' own lines).
MODEL_FIELDS = set(ModelParams.model_fields) - {"scored"}

SRC = Path(__file__).resolve().parents[1] / "src"
#: The command-line entry every stage goes through: it only dispatches to the stage module.
ENTRY = {"analysis", "analysis.__main__", "analysis.cli"}
#: Modules loaded by name at run time, and what in a stage's code loads them: the registry
#: (``MODELS``: every model of params, so every model module) and the dump adapters
#: (``read_source``: the adapter of ``source.format``, so any of them). The score stage loads
#: the models of ``models.scored`` by name (``registry.get``): the caller names them.
DYNAMIC = {"MODELS": "analysis.models", "read_source": "analysis.sources"}
#: Modules that name paths without reading them: the layout itself, params defaults of paths
#: chosen in params (config, embed and the encoder recipe of embed_models; checked against
#: params.yaml instead) and the demo-key guard (privacy_keys compares source.path with the demo's).
NO_PATHS = {
    "analysis.paths",
    "analysis.config",
    "analysis.embed",
    "analysis.embed_models",
    "analysis.privacy_keys",
}


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` under src/, or None when it is not ours."""
    base = SRC / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            ):
                stack.extend(child.orelse)
                continue
            stack.append(child)


@cache
def _parsed(path: Path) -> ast.AST:
    """The syntax tree of a source file, parsed once per process (every stage's closure reads
    the same ~150 modules; read-only to its callers)."""
    return ast.parse(path.read_text(encoding="utf-8"))


@cache
def imports_of(name: str) -> frozenset[str]:
    """The ``analysis`` modules module ``name`` imports at run time."""
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = _parsed(path)
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "analysis"}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join([*base, mod] if mod else base)
            if mod.split(".")[0] != "analysis":
                continue
            out.add(mod)
            for a in node.names:  # `from analysis import paths` imports a module
                if module_file(f"{mod}.{a.name}") is not None:
                    out.add(f"{mod}.{a.name}")
    parents = set()
    for m in out:  # importing a.b.c runs a/__init__ and a/b/__init__
        parts = m.split(".")
        parents |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return frozenset(m for m in out | parents if module_file(m) is not None)


def closure(start: list[str]) -> set[str]:
    """``start`` and every ``analysis`` module they import, transitively."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(imports_of(m) - seen)
    return seen


def package_modules(package: str) -> list[str]:
    """Every module of ``package`` (for the registry: every model, and its helpers)."""
    folder = SRC / Path(*package.split("."))
    return [f"{package}.{f.stem}" for f in sorted(folder.glob("*.py")) if f.stem != "__init__"]


def _names(tree: ast.AST) -> set[str]:
    """Every bare or attribute name used in a module (at run time)."""
    out = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def _trees(mods: set[str]) -> dict[str, ast.AST]:
    files = {m: module_file(m) for m in mods}
    return {m: _parsed(f) for m, f in files.items() if f}


@dataclass
class StageCode:
    """What one stage's code uses."""

    modules: set[str]
    files: set[Path] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    sections: set[str] = field(default_factory=set)
    #: ``models`` keys read (fields of ModelParams used as attributes).
    model_keys: set[str] = field(default_factory=set)


@cache
def stage_code(stage: str, models: tuple[str, ...] = ()) -> StageCode:
    """Modules, source files, data paths and params sections of stage ``stage`` (``score``:
    running the ``models``)."""
    mods = closure([f"analysis.stages.{stage}", *(f"analysis.models.{m}" for m in models)])
    while True:
        used = set()
        for m, tree in _trees(mods).items():
            names = _names(tree)
            used |= {
                pkg for name, pkg in DYNAMIC.items() if name in names and not m.startswith(pkg)
            }
        grown = closure([*mods, *(x for pkg in used for x in package_modules(pkg))])
        if grown == mods:
            break
        mods = grown
    mods -= ENTRY
    files = {module_file(m) for m in mods}
    code = StageCode(modules=mods, files={f for f in files if f is not None})
    for m, tree in _trees(mods).items():
        literals = m not in NO_PATHS
        for node in _runtime_nodes(tree):
            # analysis.paths.NAME (a Path, or a dict of Paths)
            if (
                literals
                and isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "paths"
            ):
                value = getattr(paths, node.attr, None)
                if node.attr == "score_file":
                    value = paths.SCORES
                values = value.values() if isinstance(value, dict) else [value]
                code.paths |= {v.as_posix() for v in values if isinstance(v, Path)}
            # path literals (a stage not yet moved to analysis.paths)
            elif literals and isinstance(node, ast.Constant) and isinstance(node.value, str):
                path_like = node.value.startswith(("data/", "reports/")) or node.value == "reports"
                if path_like and " " not in node.value:
                    code.paths.add(node.value.rstrip("/"))
            elif literals and isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith(
                    ("data/", "reports/")
                ):
                    code.paths.add(str(head.value).rstrip("/"))
            # params sections: section(params, "name", ...) and model_params(...)
            elif isinstance(node, ast.Call):
                fn = node.func
                fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if (
                    fname == "section"
                    and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                ):
                    code.sections.add(node.args[1].value)
                elif fname == "model_params":
                    code.sections.add("models")
                # params_record(params, ("name", ...)): the sections a result records
                elif (
                    fname == "params_record"
                    and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Tuple)
                ):
                    code.sections.update(
                        e.value for e in node.args[1].elts if isinstance(e, ast.Constant)
                    )
                # a raw read: params.get("name") / ctx.params.get("name")
                elif (
                    fname == "get"
                    and isinstance(fn, ast.Attribute)
                    and _ends_params(fn.value)
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    code.sections.add(node.args[0].value)
            # params["name"]
            elif (
                isinstance(node, ast.Subscript)
                and _ends_params(node.value)
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                code.sections.add(node.slice.value)
            # a ModelParams field read as an attribute (p.half_life_days)
            if isinstance(node, ast.Attribute) and node.attr in MODEL_FIELDS:
                code.model_keys.add(node.attr)
    return code


def _ends_params(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        # ctx.params / self.params / inp.params (the report's inputs): the run's params held by
        # an object; a result's recorded params (validity.params: what another stage ran
        # with) are not read from params.yaml
        return node.attr == "params" and getattr(node.value, "id", "") in ("ctx", "self", "inp")
    return getattr(node, "id", "") == "params"
