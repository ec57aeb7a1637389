"""DVC's own cost per command: reading ``dvc.lock`` with ruamel.yaml's C loader or its pure Python.

Run ``python benchmarks/dvc_yaml.py`` in a project (the repository root: the demo's lock).
Every DVC command reads ``dvc.yaml`` and ``dvc.lock`` (``typ="safe"``: the C loader when
``ruamel.yaml.clib`` is installed, a dependency since session 24), and ``dvc repro`` rewrites
the lock after every stage through the round-trip loader (``typ="rt"``: pure Python either way).
Prints the seconds per read of each, best of ``--repeat``, then ``dvc status`` timed the same
way when the ``dvc`` command is on the PATH. Figures only; nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lock", type=Path, default=Path("dvc.lock"))
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    text = a.lock.read_text()
    print(f"{a.lock}: {len(text) / 1024:.0f} KiB, {text.count(chr(10)):,} lines")
    has_c = importlib.util.find_spec("_ruamel_yaml") is not None
    routes = {
        "safe, C loader" if has_c else "safe (no C loader installed)": YAML(typ="safe"),
        "safe, pure Python": YAML(typ="safe", pure=True),
        "round-trip (lock rewrites)": YAML(typ="rt"),
    }
    for name, yaml in routes.items():
        print(f"  {name:28s} {best_of(a.repeat, lambda y=yaml: y.load(text)):6.3f} s a read")
    if shutil.which("dvc"):
        seconds = best_of(
            max(a.repeat // 2, 1),
            lambda: subprocess.run(["dvc", "status", "-q"], capture_output=True, check=False),
        )
        print(f"  dvc status                   {seconds:6.3f} s")


if __name__ == "__main__":
    main()
