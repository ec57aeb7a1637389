"""Stage ``inputs`` (always runs, in well under a second): what ingest depends on.

Writes ``data/interim/inputs.json`` with the pseudonym key's fingerprint (never the key) and a
manifest of every source file (relative name, size, SHA-256). DVC re-runs ``ingest`` exactly
when this file changes: when the key is rotated or a dump's content changes, even for dumps
outside the repository, which DVC could not track by itself.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path
from typing import Any

from analysis import paths, privacy_keys
from analysis.config import PrivacyParams, SourceParams, section
from analysis.io import write_json

log = logging.getLogger(__name__)


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def entries_digest(path: Path) -> str | None:
    """SHA-256 of the opt-out list's entries (comments and blank lines aside); None if none.

    The list is not tracked by git: a fresh clone without it and a workspace with an empty
    one give the same inputs.json, so dvc.lock reproduces.
    """
    if not path.exists():
        return None
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    entries = sorted(ln for ln in lines if ln and not ln.startswith("#"))
    return hashlib.sha256("\n".join(entries).encode()).hexdigest() if entries else None


def manifest(path: Path) -> list[dict[str, Any]]:
    """Size and digest of every file of a dump (a file or a folder tree)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    base = path.parent if path.is_file() else path
    return [
        {"file": str(f.relative_to(base)), "bytes": f.stat().st_size, "sha256": file_digest(f)}
        for f in files
    ]


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Write the fingerprint and manifest."""
    src = section(params, "source", SourceParams)
    priv = section(params, "privacy", PrivacyParams)
    key = privacy_keys.resolve_key(priv, src)
    opt_out = Path(priv.opt_out_path)
    data = {
        "key_source": priv.key_source,
        "key_fingerprint": privacy_keys.fingerprint(key),
        "opt_out_sha256": entries_digest(opt_out),
        "link_table_sha256": file_digest(Path(src.link_table)) if src.link_table else None,
        "sources": [
            {
                "format": s.format,
                "namespace": s.namespace(),
                "files": manifest(Path(s.path)) if Path(s.path).exists() else [],
            }
            for s in src.all()
        ],
    }
    write_json(data, paths.INPUTS)
    return 0
