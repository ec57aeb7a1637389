"""``--dist loadgroup`` under pytest 9.2: the ``xdist_group`` marks reach the scheduler again.

pytest-xdist 3.8 tells its scheduler a test's group by appending ``@<group>`` to the test's node
id on the worker (it sets ``item._nodeid``). pytest 9.2 builds ``item.nodeid`` from a structured
id (``item._id``), so that append is lost and every test is scheduled on its own: in ``make
test`` the groups of this suite did nothing (both workers waited on the project build at the
start, and the modules' expensive fixtures were made on both). Upstream: pytest-xdist issue
1386, open. This hook makes the append xdist means to make; where xdist's own append took (older
pytest, or an xdist with the fix) it changes nothing.

A second hook hands out the groups named in :data:`FIRST` before all other work: xdist's own
order (largest group first) gave both workers a group that needs the demo project at the start,
so one of them waited ~3 min for the other's build. ``tests/conftest.py`` imports both hooks.
"""

from __future__ import annotations

import pytest


def group_of(item: pytest.Item) -> str | None:
    """The group xdist gives ``item``: its ``xdist_group`` names, sorted, joined by ``_``."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``--dist loadgroup``: node ids end in ``@<group>``."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers by xdist
        return
    for item in items:
        group = group_of(item)
        if group is None or item.nodeid.endswith(f"@{group}"):
            continue
        suffixed = f"{item.nodeid}@{group}"
        if hasattr(item, "_id"):  # pytest >= 9.2: nodeid is str(item._id)
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(suffixed)
        else:
            item._nodeid = suffixed


#: Groups handed out first, in this order; every other work unit (ungrouped tests, and groups
#: not named here) follows in xdist's own order (largest group first, then collection order).
#: See :func:`pytest_xdist_make_scheduler` and ``tests/project.py`` for why this order.
FIRST: tuple[str, ...] = (
    "report",  # builds the demo project (~3 min), then reads it (browser, notebooks, outputs)
    # on the other worker during the build: groups that do not need the project
    "static-model",
    "dask-local-cluster",
    "determinism",
    "bench-attacks",
    # then the two ~3-min re-runs of the project, one per worker when both are free
    "pipeline",
    "key",
)


#: Groups holding a test of ~3 min or more: a worker that still has one of them pending is not
#: handed another (xdist queues the next unit on a worker while its last two tests run, so the
#: other-key run was queued behind the erasure run on one worker while the other ran short tests).
LONG: frozenset[str] = frozenset({"report", "pipeline", "key"})


def ordered(scopes: list[str], first: tuple[str, ...]) -> list[str]:
    """``scopes`` with those named in ``first`` moved to the front in that order (the rest keep
    their order)."""
    rank = {name: n for n, name in enumerate(first)}
    return sorted(scopes, key=lambda scope: rank.get(scope, len(first)))


def next_unit(queue: list[str], busy: bool) -> str:
    """The unit to hand a worker: the first in ``queue``, or for a worker ``busy`` with a
    :data:`LONG` group the first that is not long (the first of all when only long ones are
    left)."""
    if busy:
        for scope in queue:
            if scope not in LONG:
                return scope
    return queue[0]


def scheduler_class():
    """xdist's ``loadgroup`` scheduler that hands out the :data:`FIRST` groups first."""
    from xdist.scheduler import LoadGroupScheduling

    class OrderedGroupScheduling(LoadGroupScheduling):
        """Hands out the work units in :func:`ordered` order.

        xdist 3.8 keeps them in ``workqueue`` (an OrderedDict, largest group first) and pops
        them from the front in ``_assign_work_unit``, both private: pinned by requirements.lock,
        and ``tests/unit/test_xdist_groups.py`` fails if a new xdist hands them out otherwise.
        """

        _ordered = False

        def _assign_work_unit(self, node) -> None:
            queue = self.workqueue
            if not self._ordered:
                for scope in ordered(list(queue), FIRST):
                    queue.move_to_end(scope)
                self._ordered = True
            busy = any(
                scope in LONG and not all(done.values())
                for scope, done in self.assigned_work.get(node, {}).items()
            )
            pick = next_unit(list(queue), busy)
            if pick != next(iter(queue)):
                queue.move_to_end(pick, last=False)  # xdist pops the front
            super()._assign_work_unit(node)

    return OrderedGroupScheduling


@pytest.hookimpl(optionalhook=True)  # a run without xdist (``-p no:xdist``) has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``--dist loadgroup``: the scheduler of :func:`scheduler_class`; else xdist's."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return scheduler_class()(config, log)
