"""``--dist loadgroup`` under pytest 9.2: the ``xdist_group`` marks reach the scheduler again.

pytest-xdist 3.8 tells its scheduler a test's group by appending ``@<group>`` to the test's node
id on the worker (it sets ``item._nodeid``). pytest 9.2 builds ``item.nodeid`` from a structured
id (``item._id``), so that append is lost and every test is scheduled on its own: in ``make
test`` the groups of this suite did nothing (both workers waited on the project build at the
start, and the modules' expensive fixtures were made on both). Upstream: pytest-xdist issue
1386, open. This hook makes the append xdist means to make; where xdist's own append took (older
pytest, or an xdist with the fix) it changes nothing. ``tests/conftest.py`` imports it.
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
