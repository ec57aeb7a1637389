"""``make test``'s ``--dist loadgroup`` keeps each ``xdist_group`` on one worker (pytest 9.2
lost xdist's group suffix; ``tests/xdist_groups.py`` puts it back)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

INNER = """
import time

import pytest


@pytest.mark.xdist_group("a")
@pytest.mark.parametrize("i", range(4))
def test_a(i):
    time.sleep(0.2)


@pytest.mark.xdist_group("b")
class TestB:
    @pytest.mark.xdist_group("c")  # two names: xdist's group is "b_c"
    @pytest.mark.parametrize("i", range(4))
    def test_bc(self, i):
        time.sleep(0.2)


@pytest.mark.parametrize("i", range(4))
def test_single(i):
    time.sleep(0.2)
"""


def test_loadgroup_runs_each_group_on_one_worker(tmp_path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(
        "from tests.xdist_groups import pytest_collection_modifyitems  # noqa: F401\n"
    )
    (tmp_path / "test_inner.py").write_text(INNER)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    args = ["-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider", "test_inner.py"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED test_inner\.py::(\S+)", proc.stdout)
    assert len(ran) == 12, proc.stdout[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, nodeid in ran:
        test = re.sub(r"\[\d\]", "", nodeid)  # one entry per test function and group
        workers.setdefault(test, set()).add(worker)
    assert sorted(workers) == ["TestB::test_bc@b_c", "test_a@a", "test_single"], workers
    assert len(workers["test_a@a"]) == 1 and len(workers["TestB::test_bc@b_c"]) == 1, workers
