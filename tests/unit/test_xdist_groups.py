"""``make test``'s ``--dist loadgroup`` keeps each ``xdist_group`` on one worker (pytest 9.2
lost xdist's group suffix; ``tests/xdist_groups.py`` puts it back) and hands out the groups of
``tests/xdist_groups.FIRST`` first, in that order."""

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


def _inner(tmp_path, conftest: str, source: str, workers: int) -> subprocess.CompletedProcess:
    """``pytest -n <workers> --dist loadgroup -v`` on ``source`` with ``conftest``."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_inner.py").write_text(source)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    args = ["-n", str(workers), "--dist", "loadgroup", "-v", "-p", "no:cacheprovider"]
    # xdist alone: the other installed plugins (hypothesis, hydra, anyio) only cost each of
    # the three processes its start-up
    args += ["-p", "xdist"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "test_inner.py"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=path, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_loadgroup_runs_each_group_on_one_worker(tmp_path) -> None:
    conftest = "from tests.xdist_groups import pytest_collection_modifyitems  # noqa: F401\n"
    proc = _inner(tmp_path, conftest, INNER, workers=2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED test_inner\.py::(\S+)", proc.stdout)
    assert len(ran) == 12, proc.stdout[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, nodeid in ran:
        test = re.sub(r"\[\d\]", "", nodeid)  # one entry per test function and group
        workers.setdefault(test, set()).add(worker)
    assert sorted(workers) == ["TestB::test_bc@b_c", "test_a@a", "test_single"], workers
    assert len(workers["test_a@a"]) == 1 and len(workers["TestB::test_bc@b_c"]) == 1, workers


ORDERED = """
import pytest


@pytest.mark.xdist_group("big")
@pytest.mark.parametrize("i", range(4))
def test_big(i):
    pass


def test_single():
    pass


@pytest.mark.xdist_group("late")
def test_late():
    pass


@pytest.mark.xdist_group("first")
def test_first():
    pass
"""


def test_the_first_groups_are_handed_out_first_in_their_order(tmp_path) -> None:
    """On one worker the run order is the hand-out order: FIRST's groups, then xdist's own
    order (the largest group first, then the single tests in collection order)."""
    conftest = (
        "import tests.xdist_groups as groups\n"
        "from tests.xdist_groups import pytest_collection_modifyitems  # noqa: F401\n"
        "from tests.xdist_groups import pytest_xdist_make_scheduler  # noqa: F401\n"
        "groups.FIRST = ('first', 'late')\n"
    )
    proc = _inner(tmp_path, conftest, ORDERED, workers=1)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = re.findall(r"PASSED test_inner\.py::(\S+)", proc.stdout)
    assert ran == [
        "test_first@first",
        "test_late@late",
        *(f"test_big[{i}]@big" for i in range(4)),
        "test_single",
    ], proc.stdout[-3000:]


def test_ordered_moves_the_named_groups_to_the_front() -> None:
    from tests.xdist_groups import ordered

    assert ordered(["big", "a::t", "x", "y"], ("y", "x", "absent")) == ["y", "x", "big", "a::t"]
    assert ordered(["b", "a"], ()) == ["b", "a"]


def test_every_first_group_is_a_group_of_the_suite() -> None:
    """A group renamed in a test module but not in FIRST would silently lose its place."""
    from tests.project import GROUPS
    from tests.xdist_groups import FIRST, LONG

    marked = set(GROUPS.values())
    for path in (ROOT / "tests").rglob("test_*.py"):
        marked |= set(re.findall(r'xdist_group\("([^"]+)"\)', path.read_text()))
    assert set(FIRST) <= marked, sorted(set(FIRST) - marked)
    assert marked >= LONG, sorted(LONG - marked)


def test_a_worker_busy_with_a_long_group_gets_a_short_unit() -> None:
    from tests.xdist_groups import LONG, next_unit

    assert {"report", "pipeline", "key"} <= LONG
    assert next_unit(["key", "a::t", "b::t"], busy=True) == "a::t"
    assert next_unit(["key", "a::t"], busy=False) == "key"
    assert next_unit(["key", "pipeline"], busy=True) == "key"  # nothing short is left


BUSY = """
import time

import pytest


@pytest.mark.xdist_group("slow1")
@pytest.mark.parametrize("i", range(2))
def test_slow1(i):
    time.sleep(0.5)


@pytest.mark.xdist_group("quick")
@pytest.mark.parametrize("i", range(2))
def test_quick(i):
    pass


@pytest.mark.xdist_group("slow2")
def test_slow2():
    time.sleep(0.5)


@pytest.mark.parametrize("i", range(4))
def test_single(i):
    pass
"""


def test_two_long_groups_go_to_two_workers(tmp_path) -> None:
    """xdist queues a second unit on a worker whose last two tests are pending: with slow1
    first (two tests) it would queue slow2 behind it while the other worker runs quick tests."""
    conftest = (
        "import tests.xdist_groups as groups\n"
        "from tests.xdist_groups import pytest_collection_modifyitems  # noqa: F401\n"
        "from tests.xdist_groups import pytest_xdist_make_scheduler  # noqa: F401\n"
        "groups.FIRST = ('slow1', 'quick', 'slow2')\n"
        "groups.LONG = frozenset({'slow1', 'slow2'})\n"
    )
    proc = _inner(tmp_path, conftest, BUSY, workers=2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED test_inner\.py::(\S+)", proc.stdout)
    where = {re.sub(r"\[\d\]", "", nodeid): worker for worker, nodeid in ran}
    assert len(ran) == 9, proc.stdout[-3000:]
    assert where["test_slow1@slow1"] != where["test_slow2@slow2"], ran
