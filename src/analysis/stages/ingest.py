"""Stage ``ingest``: read the dump(s), validate, anonymise; write data/interim and ingest.json."""

from __future__ import annotations

import argparse
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import privacy, schema
from analysis.config import IngestParams, PrivacyParams, SourceParams, section
from analysis.ingest import Source, apply_links, ingest
from analysis.io import write_json, write_parquet, write_table
from analysis.sources import read_source

log = logging.getLogger(__name__)

OUT = Path("data/interim")
METRICS = Path("reports/metrics/ingest.json")


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Ingest every configured dump into the interim tables."""
    src = section(params, "source", SourceParams)
    priv = section(params, "privacy", PrivacyParams)
    ing = section(params, "ingest", IngestParams)
    key = privacy.resolve_key(priv, src)
    opt_out = privacy.read_opt_out(priv.opt_out_path, key)
    sources = []
    for spec in src.all():
        tables = read_source(spec.format, spec.path)
        log.info(
            "%s (%s): read %s",
            spec.namespace(),
            spec.format,
            ", ".join(f"{k} {v:,}" for k, v in tables.n_read.items()),
        )
        sources.append(Source(spec.namespace(), tables))
    result = ingest(sources, key, opt_out, ing, priv, now=datetime.now(UTC))
    if src.link_table:
        result = apply_links(result, pl.read_csv(src.link_table, infer_schema=False), key)
        log.info(
            "linked %d account(s) across dumps from %s",
            result.counts["links"]["n_linked_accounts"],
            src.link_table,
        )
    for table in ("accounts", "posts", "reactions"):
        write_table(getattr(result, table), OUT / f"{table}.parquet", table, schema.INTERIM)
    write_parquet(result.rejects, OUT / "rejects.parquet")
    reasons = (
        result.rejects.group_by("table", "reason")
        .len()
        .sort("len", descending=True)
        .rows(named=True)
    )
    posts = result.posts
    links = result.counts.pop("links", None)
    write_json(
        {
            "links": links,
            "sources": result.counts,
            "totals": {
                tbl: {
                    k: sum(c[tbl].get(k, 0) for c in result.counts.values())
                    for k in (
                        "read",
                        "accepted",
                        "rejected",
                        "removed_privacy",
                        "merged_nonparticipant",
                    )
                }
                for tbl in ("accounts", "posts", "reactions")
            },
            "reject_reasons": reasons,
            "missing_inputs": result.missing_inputs,
            "n_participants": int(result.accounts["is_participant"].sum()),
            "platforms": sorted(posts["platform"].unique().to_list()),
            # to privacy.time_resolution: this file is tracked by git and leaves the machine
            "first_post_at": str(posts["created_at"].dt.truncate(priv.time_resolution).min())
            if posts.height
            else None,
            "last_post_at": str(posts["created_at"].dt.truncate(priv.time_resolution).max())
            if posts.height
            else None,
            "n_opt_out_entries": len(opt_out),
            # changes whenever the set of removed accounts does (a later is_minor flag too):
            # the embed stage prunes its cache then, as after an opt-out
            "removed_accounts_sha256": hashlib.sha256(
                "\n".join(sorted(result.removed)).encode()
            ).hexdigest(),
        },
        METRICS,
    )
    for ns, c in result.counts.items():
        log.info(
            "%s: posts read %d = accepted %d + rejected %d + removed %d; accounts: %d participants, "
            "%d merged into the non-participant placeholder",
            ns,
            c["posts"]["read"],
            c["posts"]["accepted"],
            c["posts"]["rejected"],
            c["posts"]["removed_privacy"],
            c["accounts"]["accepted"],
            c["accounts"]["merged_nonparticipant"],
        )
    return 0
