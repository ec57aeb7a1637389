"""Compile the bytecode of what the pipeline imports, by importing it once (``make setup``).

Usage: ``<venv>/bin/python .ci/warm_bytecode.py [SRC]`` (``SRC``: the folder of the ``analysis``
package, ``src`` by default), with ``PYTHONDONTWRITEBYTECODE`` unset (``make`` unexports it).

uv installs without compiling; asked to (``--compile-bytecode``) it compiles every module of the
252 packages, 22,600 files: ~35 s of the set-up on 2 cores, ~70 CPU-s. The pipeline imports a
quarter of them. Where ``PYTHONDONTWRITEBYTECODE`` is set, as on the build machine, a process run
outside ``make`` (``dvc repro`` in a shell, a stage, ``resonance``) would compile its imports
again every time; inside ``make`` Python caches them on first import. So the set-up compiles what
those processes import, and nothing else: every ``analysis`` module, every module any of them
imports (at module level or inside a function: torch, sentence-transformers, model2vec, kaleido,
dask's scheduler, ...; read from the source, not listed by hand) and DVC's command line,
repository and commands. A module missed here is compiled by the first process that imports it:
slower where the variable is set, never wrong. Test-only libraries (pytest, hypothesis,
nbclient) are compiled by the tests, under ``make``.

Two processes share the work (two cores): a child imports the embedding route's libraries
(:data:`TORCH_FAMILY`, a third of the compiling) while this process imports the rest.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

#: The embedding route's libraries: the child process's part (:func:`split`).
TORCH_FAMILY = frozenset(
    {"torch", "transformers", "sentence_transformers", "model2vec", "onnx", "onnxruntime"}
)
#: DVC's own entry points (``dvc`` imports its commands lazily): its parser, every command,
#: every repository operation.
DVC_PACKAGES = ("dvc.cli", "dvc.commands", "dvc.repo")
#: What a user runs most, run once in a throwaway repository: DVC imports much of what these
#: need inside functions (its cache, the lock file's YAML, git's ignore rules), which no list
#: of modules finds.
DVC_COMMANDS = (
    ["repro"],
    ["status"],
    ["metrics", "show"],
    ["metrics", "diff"],  # against the commit below: with none, a diff returns at once
    ["params", "diff"],
)
#: Seconds a DVC command of the warm-up may take, and the embedding part: past them the set-up
#: goes on (a warm-up that hangs must not hang ``make``).
TIMEOUT_S = 300
#: The throwaway repository's one stage: an output, a metric and a parameter, interpolated (as
#: ``dvc.yaml`` does: its parser is imported only then).
DVC_YAML = """stages:
  one:
    cmd: >-
      echo ${p} > out.txt && echo '{"x": 1}' > m.json
    params: [p]
    outs: [out.txt]
    metrics: [{m.json: {cache: false}}]
"""


def imported_names(src: Path) -> set[str]:
    """Every absolute module name imported anywhere under ``src`` (``import a.b``: ``a.b``;
    ``from a.b import c``: ``a.b`` and ``a.b.c``, which is a module or not)."""
    names: set[str] = set()
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_modules(name: str) -> list[str]:
    """``name`` and the modules directly under it (an absent package: nothing)."""
    try:
        package = importlib.import_module(name)
    except Exception:  # an optional dependency that is not installed
        return []
    found = [name]
    for path in getattr(package, "__path__", []):
        found += [f"{name}.{m.name}" for m in pkgutil.iter_modules([path])]
    return found


def run_dvc(root: Path) -> bool:
    """:data:`DVC_COMMANDS` in a new git and DVC repository in ``root``; whether all ran.

    Cut off from the machine's DVC: no usage report (``DVC_NO_ANALYTICS``), neither the user's
    nor the system's configuration (a shared cache, a remote) and no site cache folder left
    behind in ``/var/tmp/dvc``: all three point into ``root``."""
    dvc = [sys.executable, "-m", "dvc"]
    git = ["git", "-c", "user.name=warm", "-c", "user.email=warm@localhost"]
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("p: 1\n")
    steps = [[*git, "init", "-q"], [*dvc, "init", "-q"], [*dvc, "repro"]]
    steps += [[*git, "add", "-A"], [*git, "commit", "-qm", "warm"]]
    steps += [[*dvc, *cmd] for cmd in DVC_COMMANDS]
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(root / ".global"),
        "DVC_SYSTEM_CONFIG_DIR": str(root / ".system"),
        "DVC_SITE_CACHE_DIR": str(root / ".site"),
    }
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for step in steps:
        try:
            done = subprocess.run(step, cwd=root, env=env, timeout=TIMEOUT_S, check=False, **quiet)
        except subprocess.TimeoutExpired:
            return False
        if done.returncode != 0:
            return False
    return True


def split(names: list[str]) -> tuple[list[str], list[str]]:
    """(the embedding route's libraries, the rest). A module both sides import that neither has
    compiled yet may be compiled twice: Python writes bytecode atomically, either copy is right."""
    torch = [n for n in names if n.split(".")[0] in TORCH_FAMILY]
    return torch, [n for n in names if n.split(".")[0] not in TORCH_FAMILY]


def warm(names: list[str]) -> int:
    """Import each of ``names``, writing its bytecode; how many were modules."""
    warnings.simplefilter("ignore")  # deprecation notices of modules imported for their bytecode
    ok = 0
    for name in names:
        if name.rsplit(".", 1)[-1] == "__main__":  # a program: importing it would run it
            continue
        try:
            importlib.import_module(name)
            ok += 1
        except KeyboardInterrupt:
            raise
        except BaseException:  # a function or class (``from a import f``), an optional
            pass  # dependency, or a module that exits on import: none stops the set-up
    return ok


def main(argv: list[str]) -> int:
    if sys.dont_write_bytecode:  # PYTHONDONTWRITEBYTECODE or python -B: a speed-up, not a need
        print("warm_bytecode: bytecode writing is off (PYTHONDONTWRITEBYTECODE or -B): skipped")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if argv[:1] == ["--only"]:  # the child's part
        warm(argv[1:])
        return 0
    started = time.perf_counter()
    src = Path(argv[0] if argv else "src").resolve()
    sys.path.insert(0, str(src))
    # a subpackage that fails to import is left to the first process that needs it
    walk = pkgutil.walk_packages([str(src / "analysis")], "analysis.", onerror=lambda _: None)
    own = [m.name for m in walk]
    names = sorted({"analysis", *own, *imported_names(src / "analysis")})
    torch, rest = split(names)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    child = subprocess.Popen(
        [sys.executable, __file__, "--only", *torch],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *extra])},
    )
    try:
        ok = warm([*rest, *(m for p in DVC_PACKAGES for m in package_modules(p))])
        with tempfile.TemporaryDirectory(prefix="warm-dvc-") as tmp:
            dvc_ok = run_dvc(Path(tmp))
        child_rc = child.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child_rc = "a timeout"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    print(
        f"warm_bytecode: compiled what the pipeline imports ({ok} modules and the embedding "
        f"route's {len(torch)} names) in {time.perf_counter() - started:.1f} s"
        + ("" if child_rc == 0 else f"; the embedding part exited {child_rc}")
        + ("" if dvc_ok else "; a DVC command failed in the throwaway repository")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
