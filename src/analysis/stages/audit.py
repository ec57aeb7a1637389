"""``resonance audit``: exit non-zero when any output holds a raw identifier of the input, a
pseudonym of no current account, or a published output a time finer than
``privacy.time_resolution`` or a count of fewer than ``privacy.min_cell_k`` accounts."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from analysis.audit import (
    FINE_TIME,
    SMALL_GROUP,
    STALE,
    Identifiers,
    audit,
    fine_times,
    small_groups,
)
from analysis.config import PrivacyParams, SourceParams, section
from analysis.ingest_names import account_rows
from analysis.sources import read_source

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Read the raw identifiers of every configured dump, then scan every output."""
    src = section(params, "source", SourceParams)
    tables = [read_source(s.format, s.path) for s in src.all()]
    # every account row, rejected ones included (their names are redacted too)
    ident = Identifiers.from_tables([account_rows(t) for t in tables], [t.posts for t in tables])
    hits, n_files = audit(args.root, ident)
    priv = section(params, "privacy", PrivacyParams)
    hits += fine_times(args.root, priv.time_resolution)
    hits += small_groups(args.root, priv.min_cell_k)
    log.info(
        "audit: %d raw ids, %d names/handles/e-mails checked in %d files",
        len(ident.ids),
        len(ident.names),
        n_files,
    )
    # Matches go to stderr only, never to the log file: logs/ is itself an audited output.
    for hit in hits[:100]:
        sys.stderr.write(f"audit hit: {hit}\n")
    stale = sum(h.kind == STALE for h in hits)
    if stale:
        log.error(
            "audit FAILED: %d pseudonym(s) of no current account in outputs (a frozen or stale "
            "stage after a key rotation or an erasure: `dvc unfreeze` it and `dvc repro`)",
            stale,
        )
    fine = sum(h.kind == FINE_TIME for h in hits)
    if fine:
        log.error(
            "audit FAILED: %d time(s) finer than privacy.time_resolution in published outputs",
            fine,
        )
    small = sum(h.kind == SMALL_GROUP for h in hits)
    if small:
        log.error(
            "audit FAILED: %d count(s) of fewer than privacy.min_cell_k accounts in published "
            "outputs or plot data (a small group's figure: suppress it where the table is made)",
            small,
        )
    if len(hits) > stale + fine + small:
        log.error(
            "audit FAILED: %d raw identifier(s) found in outputs", len(hits) - stale - fine - small
        )
    if hits:
        return 1
    log.info("audit passed: no raw identifier in any output")
    return 0
