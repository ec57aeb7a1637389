"""Install the pinned environment into a venv: uv when it works, else pip (``make setup``).

Usage: ``<venv>/bin/python .ci/install.py SPEC [--no-deps SPEC ...]``, run with the venv's own
interpreter. Every SPEC is installed under ``-c requirements.lock``.

uv installs the same pinned set as pip about nine times faster (``python -m
benchmarks.setup_time`` on the 2-core build machine, two new venvs, warm caches: 19.4 s against
182.0 s, the same 252 packages in ``pip freeze``), which was most of what ``make test`` spent
before the first test. uv does not read pip's configuration,
so pip's own settings are handed on: ``find-links`` (where this machine keeps the CPU build of
torch: without it a resolver takes a CUDA build of several GB), ``index-url`` and
``extra-index-url`` (with pip's rule of taking the best version from any index), the
``constraint`` files and the certificate bundle. If uv cannot be installed or fails for any
reason, pip installs exactly as before: uv only makes setup faster, never different.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

#: the uv release tried first (pinned: a new uv must not change what gets installed)
UV = "uv==0.13.9"
LOCK = "requirements.lock"


def pip_settings(python: str) -> dict[str, list[str]]:
    """pip's effective settings (files and ``PIP_*`` variables) as key -> values."""
    out = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    settings: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        name = key.rsplit(".", 1)[-1]
        value = value.strip().strip("'\"")
        for item in value.split():
            if item not in settings.setdefault(name, []):
                settings[name].append(item)
    return settings


def uv_arguments(settings: dict[str, list[str]]) -> tuple[list[str], dict[str, str]]:
    """uv options and environment that ask for what pip's ``settings`` ask for."""
    args = ["--index-strategy", "unsafe-best-match"]
    for link in settings.get("find-links", []):
        args += ["--find-links", link]
    for url in settings.get("index-url", [])[:1]:
        args += ["--index-url", url]
    for url in settings.get("extra-index-url", []):
        args += ["--extra-index-url", url]
    for path in settings.get("constraint", []):
        args += ["-c", path]
    env = {}
    for cert in settings.get("cert", [])[:1]:
        env["SSL_CERT_FILE"] = cert
    return args, env


def run(cmd: list[str], env: dict[str, str] | None = None) -> bool:
    print("+", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, check=False).returncode == 0


def groups(argv: list[str]) -> list[tuple[list[str], list[str]]]:
    """``SPEC ... --no-deps SPEC ...`` -> [(flags, specs), ...], one install per group."""
    out: list[tuple[list[str], list[str]]] = [([], [])]
    for arg in argv:
        if arg == "--no-deps":
            out.append((["--no-deps"], []))
        else:
            out[-1][1].append(arg)
    return [(flags, specs) for flags, specs in out if specs]


def with_uv(python: str, todo: list[tuple[list[str], list[str]]]) -> bool:
    if not run([python, "-m", "pip", "install", "-q", UV]):
        return False
    uv = os.path.join(os.path.dirname(python), "uv")
    args, env = uv_arguments(pip_settings(python))
    base = [uv, "pip", "install", "--python", python, "-q", "-c", LOCK, *args]
    return all(run([*base, *flags, *specs], env) for flags, specs in todo)


def with_pip(python: str, todo: list[tuple[list[str], list[str]]]) -> bool:
    base = [python, "-m", "pip", "install", "-q", "-c", LOCK]
    return all(run([*base, *flags, *specs]) for flags, specs in todo)


def main(argv: list[str]) -> int:
    python = sys.executable
    todo = groups(argv)
    if os.environ.get("RESONANCE_NO_UV") != "1" and with_uv(python, todo):
        return 0
    print("uv did not install the environment: installing with pip", flush=True)
    run([python, "-m", "pip", "install", "-q", "--upgrade", "pip>=24"])
    return 0 if with_pip(python, todo) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
