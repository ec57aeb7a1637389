"""``make setup`` with uv against pip: seconds to a new ``.venv`` and whether both hold the same set.

    .venv/bin/python -m benchmarks.setup_time [--keep]

Creates two new virtual environments in a temporary folder and installs the project into each
with ``.ci/install.py`` (what ``make setup`` runs): once as it runs by default (uv, given pip's
own settings), once with ``RESONANCE_NO_UV=1`` (pip only). Prints the wall and CPU seconds of
each, the load average, and the difference between the two ``pip freeze`` lists (names
normalised; pip, setuptools and uv themselves left out). Both routes may find packages in
their caches (``~/.cache/uv``, ``~/.cache/pip``): run it twice to compare warm against warm.
Figures only; nothing gates on a time.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ["-e", ".[dev]", "--no-deps", "birdspotter==0.1.6b1"]
TOOLS = {"pip", "setuptools", "uv", "wheel"}


def children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def install(venv: Path, uv: bool) -> dict[str, float | bool]:
    """A new venv at ``venv`` with the project installed; seconds and success."""
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if not uv:
        env["RESONANCE_NO_UV"] = "1"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), str(ROOT / ".ci" / "install.py"), *SPECS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": children_cpu() - cpu,
        "ok": proc.returncode == 0,
        "took_uv": "uv did not install" not in proc.stdout,
    }


def frozen(venv: Path) -> set[str]:
    """``name==version`` of every package in ``venv`` (names normalised, tools left out)."""
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = set()
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if not sep:
            continue
        name = re.sub(r"[-_.]+", "-", name).lower()
        if name not in TOOLS:
            pins.add(f"{name}=={version}")
    return pins


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the two venvs (path printed)")
    args = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="resonance-setup-"))
    try:
        runs = {}
        for route, uv in (("uv (default)", True), ("pip (RESONANCE_NO_UV=1)", False)):
            runs[route] = install(folder / route.split()[0], uv)
            r = runs[route]
            print(
                f"{route:26s} {r['seconds']:7.1f} s wall {r['cpu_seconds']:7.1f} CPU-s"
                f"  ok={r['ok']} uv_used={r['took_uv']}  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        a, b = frozen(folder / "uv"), frozen(folder / "pip")
        print(
            f"packages: uv {len(a)}, pip {len(b)}; only uv: {sorted(a - b)}; only pip: {sorted(b - a)}"
        )
        uv_s, pip_s = (r["seconds"] for r in runs.values())
        print(f"uv route {pip_s / uv_s:.1f}x faster than pip ({uv_s:.1f} s vs {pip_s:.1f} s)")
        return 0 if all(r["ok"] for r in runs.values()) and a == b else 1
    finally:
        if args.keep:
            print("venvs kept in", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
