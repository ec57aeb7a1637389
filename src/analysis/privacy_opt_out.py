"""The opt-out list: keyed digests (HMAC) of the normalised raw ids of people who opted out.

Used by stage ``ingest`` (who is left out) and by ``resonance forget`` (who is added); reads and
appends to ``privacy.opt_out_path``, never storing a raw id or handle.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from pathlib import Path

import polars as pl

from analysis.names import strip_invisible
from analysis.privacy_keys import fingerprint


def normalise_identity(value: str) -> str:
    """Normalise an id or handle for opt-out matching: NFKC, no format characters, no leading
    '@', casefold. Nothing else is cut: ``alice@example.com`` and ``alice@other.org`` stay two
    people (Usenet ids are addresses)."""
    return (
        strip_invisible(unicodedata.normalize("NFKC", value)).strip().removeprefix("@").casefold()
    )


def opt_out_key_id(key: bytes) -> str:
    """Which key an opt-out digest was made with (a prefix of the slow fingerprint)."""
    return fingerprint(key)[:8]


def opt_out_digest(value: str, key: bytes, key_id: str | None = None) -> str:
    """The keyed digest stored in the opt-out list for one id or handle.

    ``hmac:<key id>:<HMAC-SHA256(key, normalised value)>``: without the key a dictionary of a
    dump's handles cannot reverse it (unsalted SHA-256 digests could be).
    """
    kid = key_id or opt_out_key_id(key)
    msg = b"resonance-opt-out-v2\x1f" + normalise_identity(value).encode("utf-8")
    return f"hmac:{kid}:" + hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def legacy_digest(value: str) -> str:
    """The unkeyed digest of earlier versions (still honoured: nobody is un-forgotten)."""
    old = strip_invisible(unicodedata.normalize("NFKC", value)).strip()
    old = old.lstrip("@").split("@")[0].casefold() if old.count("@") <= 2 else old.casefold()
    return "sha256:" + hashlib.sha256(old.encode("utf-8")).hexdigest()


class OptOutKeyError(RuntimeError):
    """The opt-out list holds digests made with another key: nobody may be silently un-forgotten."""


def read_opt_out(path: Path | str, key: bytes) -> set[str]:
    """Read the opt-out list: ``hmac:`` digests, legacy ``sha256:`` digests, or raw ids/handles
    typed by hand (digested here); ``#`` comments. Raises :class:`OptOutKeyError` when an
    entry was made with another key (after a key rotation: run ``forget`` again)."""
    path = Path(path)
    if not path.exists():
        return set()
    kid = opt_out_key_id(key)
    out: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("hmac:"):
            if line.split(":")[1] != kid:
                raise OptOutKeyError(
                    f"{path}, line {number}: an opt-out made with another pseudonym key; restore "
                    "that key, or run `resonance forget` again for that person with the current one"
                )
            out.add(line)
        elif line.startswith("sha256:"):
            out.add(line)
        else:
            out.add(opt_out_digest(line, key, kid))
    return out


def add_opt_out(path: Path | str, value: str, key: bytes) -> str:
    """Append the keyed digest of ``value`` to the opt-out list (never the raw value); return it."""
    path = Path(path)
    digest = opt_out_digest(value, key)
    if digest in read_opt_out(path, key):
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(digest + "\n")
    return digest


def opted_out_expr(col: str, key: bytes, opt_out: set[str]) -> pl.Expr:
    """True where ``col`` is on the opt-out list (keyed or legacy digest); null stays False."""
    if not opt_out:
        return pl.lit(False)
    kid = opt_out_key_id(key)
    keyed = pl.col(col).map_elements(
        lambda v: opt_out_digest(v, key, kid), return_dtype=pl.String, skip_nulls=True
    )
    legacy = pl.col(col).map_elements(legacy_digest, return_dtype=pl.String, skip_nulls=True)
    return (keyed.is_in(list(opt_out)) | legacy.is_in(list(opt_out))).fill_null(False)
