"""The Makefile's static checks run inside ``make test`` too: CI runs ``make test`` only, and a
type error in a model module (``make typecheck``) stood unnoticed on session 55's last commit."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> list[list[str]]:
    """The commands of ``target``'s recipe in the Makefile, each as its arguments."""
    text = (ROOT / "Makefile").read_text()
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert found, f"no target {target} in the Makefile"
    lines = [line.strip() for line in found.group(1).splitlines()]
    # plain commands joined by && only: anything else is make's or the shell's to read
    odd = [line for line in lines if re.search(r"\$\(|\\$|\|\||;|^[@-]", line)]
    assert not odd, f"make {target}: this test reads plain commands only, not {odd}"
    return [shlex.split(command) for line in lines for command in line.split("&&")]


@pytest.mark.parametrize(
    "target",
    ["lint", pytest.param("typecheck", marks=pytest.mark.slow)],  # mypy: ~20 s cold
)
def test_the_makefiles_static_checks_pass(target: str) -> None:
    tools = Path(sys.executable).parent  # the project's environment, where make setup put them
    for args in recipe(target):
        assert (tools / args[0]).exists(), f"{args[0]} is not installed beside {sys.executable}"
        done = subprocess.run(
            [str(tools / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, f"make {target}: {' '.join(args)}\n{done.stdout}{done.stderr}"
