"""``resonance forget ID_OR_HANDLE``: erase an account at the next ``dvc repro``.

Appends the SHA-256 digest of the normalised id or handle to the opt-out list (the raw value is
never written). The ``inputs`` stage hashes that list, so the next ``dvc repro`` re-runs
ingest and everything downstream without the account: no pseudonym, post, embedding, reaction,
topic-keyword contribution or graph edge of it remains.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from analysis import privacy
from analysis.config import PrivacyParams, section

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Add the account to the opt-out list."""
    priv = section(params, "privacy", PrivacyParams)
    digest = privacy.add_opt_out(priv.opt_out_path, args.identity)
    log.info(
        "added %s to %s; run `dvc repro` to erase everything derived from the account",
        digest[:19] + "…",
        priv.opt_out_path,
    )
    return 0
