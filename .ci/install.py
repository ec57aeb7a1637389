"""Install the pinned environment into a venv: uv when it works, else pip (``make setup``).

Usage: ``<venv>/bin/python .ci/install.py SPEC [--no-deps SPEC ...]``, run with the venv's own
interpreter. Every SPEC is installed under ``-c requirements.lock``.

uv installs the same pinned set as pip about nine times faster (``python -m
benchmarks.setup_time`` on the 2-core build machine, two new venvs, warm caches: 19.4 s against
182.0 s, the same 252 packages in ``pip freeze``), which was most of what ``make test`` spent
before the first test. uv does not read pip's configuration, so pip's own settings are handed
on: ``find-links`` (where this machine keeps the CPU build of torch: without it a resolver takes
a CUDA build of several GB), ``index-url`` and ``extra-index-url`` (with pip's rule of taking
the best version from any index), the ``constraint`` files, ``no-index`` and the certificate
bundle, read through pip's own option parser (configuration files and ``PIP_*`` variables,
with pip's precedence). Both routes upgrade pip itself to ``pip>=24``. If uv cannot be
installed or fails for any reason, pip installs exactly as before: uv only makes setup faster.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

#: the uv release tried first (pinned: a new uv must not change what gets installed)
UV = "uv==0.13.9"
LOCK = "requirements.lock"


#: pip's own option parser, run by the venv's pip: the effective settings of its configuration
#: files (global, user, site; ``install`` over ``global``) and ``PIP_*`` variables, as pip itself
#: resolves them (pip's internal API; if it ever moves, uv fails and pip installs)
_PIP_OPTIONS = """
import json
from pip._internal.commands import create_command
o, _ = create_command("install").parse_args([])
print(json.dumps({
    "index-url": [o.index_url] if o.index_url else [],
    "extra-index-url": list(o.extra_index_urls or []),
    "find-links": list(o.find_links or []),
    "constraint": list(o.constraints or []),
    "cert": [o.cert] if o.cert else [],
    "no-index": bool(o.no_index),
}))
"""


def pip_settings(python: str) -> dict[str, Any]:
    """pip's effective install settings (files and ``PIP_*`` variables), as pip resolves them."""
    out = subprocess.run(
        [python, "-c", _PIP_OPTIONS], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def uv_arguments(settings: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """uv options and environment that ask for what pip's ``settings`` ask for."""
    args = ["--index-strategy", "unsafe-best-match"]
    if settings.get("no-index"):
        args.append("--no-index")
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
    try:
        args, env = uv_arguments(pip_settings(python))
    except (subprocess.CalledProcessError, ValueError) as exc:
        print(f"pip's settings could not be read ({exc})", flush=True)
        return False
    return all(run(cmd, env) for cmd in uv_commands(uv, python, args, todo))


def uv_commands(
    uv: str, python: str, args: list[str], todo: list[tuple[list[str], list[str]]]
) -> list[list[str]]:
    """uv's install commands: pip itself first, then each group.

    Nothing is compiled here: uv's ``--compile-bytecode`` compiles every module of every package
    (22,600 files, ~35 s of a new venv on 2 cores), while the pipeline imports a quarter of them.
    ``make setup`` then compiles what the pipeline imports (``.ci/warm_bytecode.py``): where
    ``PYTHONDONTWRITEBYTECODE`` is set, as on the build machine, a process run outside ``make``
    would otherwise compile its imports again each time (``import sentence_transformers`` 12.6 s
    instead of 6.5, a 1M-post score stage 6.8 s instead of 1.7).
    """
    base = [uv, "pip", "install", "--python", python, "-q", "-c", LOCK]
    # pip itself too, as the pip route upgrades it: both routes leave the same venv
    groups = [([], ["pip>=24"]), *todo]
    return [[*base, *args, *flags, *specs] for flags, specs in groups]


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
