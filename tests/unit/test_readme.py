"""The README's commands work as written and its claims about the code hold."""

from __future__ import annotations

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def test_every_make_target_the_readme_names_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", README))
    assert {"metrics", "diff"} <= named
    assert named <= targets, sorted(named - targets)


def test_venv_commands_say_how_to_reach_them() -> None:
    """`dvc metrics show` fails outside the venv: the README says to activate it or use make."""
    assert "source .venv/bin/activate" in README
    assert re.search(r"^metrics:.*\n\tdvc metrics show", MAKEFILE, re.M)
    assert re.search(r"^diff:.*\n\tdvc metrics diff", MAKEFILE, re.M)


def test_readme_says_what_make_browser_installs() -> None:
    assert re.search(r"`make browser`[^.]*chromium[^.]*apt-get[^.]*root", README, re.S)


def test_readme_credits_only_libraries_the_code_uses() -> None:
    """PageRank is scipy.sparse power iteration; igraph is neither imported nor declared."""
    assert "igraph" not in README
    assert "igraph" not in (ROOT / "pyproject.toml").read_text()
    assert "import igraph" not in "".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))


def test_the_writeup_reproduce_commands_are_make_targets(tmp_path) -> None:
    from analysis.stages import report as stage

    stage.write_report(tmp_path, {"report": {"figure_format": "none"}})
    md = (tmp_path / "reports/methodology.md").read_text()
    block = md.split("## 10. Reproduce")[1]
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.M))
    named = re.findall(r"^make ([a-z-]+)", block, re.M)
    assert named and set(named) <= targets, named
    assert not re.search(r"^dvc ", block, re.M)  # bare dvc fails outside the activated .venv
