"""Stage ``demo``: write the simulated dump (canonical Parquet) and its ground truth apart
(``data/raw/demo_truth/{accounts,posts,adoptions}.parquet``: roles, subjects, the hidden trait
and the adoptions it drives; no model reads them)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from analysis import paths, schema
from analysis.config import DemoParams, section
from analysis.demo import generate
from analysis.io import write_parquet, write_table

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Generate the demo community from ``demo`` params."""
    p = section(params, "demo", DemoParams)
    dump = generate(p)
    for table in ("accounts", "posts", "reactions"):
        write_table(getattr(dump, table), paths.DEMO_RAW / f"{table}.parquet", table, schema.RAW)
    write_parquet(dump.truth_accounts, paths.DEMO_TRUTH / "accounts.parquet")
    write_parquet(dump.truth_posts, paths.DEMO_TRUTH / "posts.parquet")
    write_parquet(dump.truth_adoptions, paths.DEMO_TRUTH / "adoptions.parquet")
    log.info(
        "demo: %d accounts, %d posts, %d reactions, %d hidden adoptions over %d days (seed %d)",
        dump.accounts.height,
        dump.posts.height,
        dump.reactions.height,
        dump.truth_adoptions.height,
        p.n_days,
        p.seed,
    )
    return 0
