"""Privacy primitives used on the way in (stage ``ingest``) and by ``resonance forget``/``audit``.

* keyed pseudonyms: HMAC-SHA256 over ``namespace \\x1f kind \\x1f raw id`` with a secret key
  from the environment or a key file outside git and outside every output;
* a key fingerprint (scrypt of the key, never the key) so DVC re-runs ingest on rotation;
  keys under 32 bytes or of low entropy, empty and group/world-readable key files are refused,
  and the simulated demo alone may run under the published :data:`DEMO_KEY`;
* the text scrubber: handles, e-mails (also obfuscated), URLs, phone numbers, platform mention
  markup and the names of known accounts are replaced by placeholders (the name helpers and the
  redactor live in ``analysis.names`` and are re-exported here);
* opt-out entries, stored as keyed digests (HMAC) of the normalised raw account id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from analysis import names as _names
from analysis import paths

if TYPE_CHECKING:
    from analysis.config import PrivacyParams, SourceParams

# The name helpers live in analysis.names; re-exported here, the interface privacy always had.
CONFUSABLES = _names.CONFUSABLES
FORMAT_CHARS = _names.FORMAT_CHARS
ORDINARY_WORD = _names.ORDINARY_WORD
RUN = _names.RUN
TOKEN = _names.TOKEN
WORD = _names.WORD
AnchorIndex = _names.AnchorIndex
NameRedactor = _names.NameRedactor
_alternation = _names._alternation
_tokens = _names._tokens
common_words = _names.common_words
fold = _names.fold
name_variants = _names.name_variants
ordinary_candidates = _names.ordinary_candidates
ordinary_words = _names.ordinary_words
skeleton = _names.skeleton
strip_invisible = _names.strip_invisible
word_authors = _names.word_authors

log = logging.getLogger(__name__)

KEY_BYTES = 32
ACCOUNT_PREFIX = "acct_"
POST_PREFIX = "post_"
REACTION_PREFIX = "rx_"
DIGEST_HEX = 16  # 64 bits: collision-free for any dump we will ever see (birthday ~4e9 ids)


#: The published key of the simulated demo. NOT A SECRET: it is in the source code so that a
#: fresh clone's ``dvc repro`` reproduces the committed dvc.lock, and it is refused for any
#: dump other than the simulated demo (``privacy.key_source: demo``, see :func:`resolve_key`).
DEMO_KEY = b"resonance-demo-key-NOT-A-SECRET-only-for-the-simulated-demo-v1"
#: The simulated demo's dump, the only source ``key_source: demo`` may pseudonymise.
DEMO_SOURCE = ("canonical", paths.DEMO_RAW.as_posix())
#: A key must hold this many bytes and about this many bits of estimated entropy.
MIN_KEY_BYTES = 32
MIN_KEY_BITS = 128
#: scrypt cost of the key fingerprint: about 0.1 s and 32 MiB per guess, so a published
#: fingerprint is no cheap oracle for guessing a weak key.
FINGERPRINT_SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 2**20, "dklen": 16}


class PseudonymKeyError(RuntimeError):
    """No usable pseudonym key (and creating one was not allowed), or a weak one."""


def key_entropy_bits(key: bytes) -> float:
    """Estimated entropy of ``key`` in bits: its length times the Shannon entropy of its bytes.

    An over-estimate for keys made of words, but it refuses what matters: short keys and keys
    of few distinct characters ("aaaa...", "abab...", "1234" repeated).
    """
    if not key:
        return 0.0
    counts = [key.count(b) for b in set(key)]
    n = len(key)
    return n * -sum(c / n * math.log2(c / n) for c in counts)


def check_key(key: bytes, where: str) -> bytes:
    """Return ``key`` if it is strong enough, else raise naming ``where`` it came from (never it)."""
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonym key from {where} has {len(key)} bytes; at least {MIN_KEY_BYTES} random "
            'bytes are needed (for example `python -c "import secrets; '
            'print(secrets.token_hex(32))"`)'
        )
    bits = key_entropy_bits(key)
    if bits < MIN_KEY_BITS:
        raise PseudonymKeyError(
            f"the pseudonym key from {where} is too predictable (about {bits:.0f} bits of "
            f"entropy, {MIN_KEY_BITS} needed: too few distinct characters); use a random key"
        )
    return key


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``, refused when others can read the file or when it is empty."""
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PseudonymKeyError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )
    key = path.read_text(encoding="utf-8").strip().encode("utf-8")
    if not key:
        raise PseudonymKeyError(
            f"key file {path} is empty; put a random key of 64 hex digits in it"
        )
    return check_key(key, f"key file {path}")


def load_key(
    env: str = "RESONANCE_KEY",
    key_file: str | Path = "~/.config/resonance/key",
    create: bool = True,
) -> bytes:
    """Return the secret pseudonym key: env var first, else the key file, else create the file.

    The key file is created with mode 0600 outside the repository; one log line says where.
    A key shorter than 32 bytes or of too little entropy, an empty key file and a key file that
    others can read are refused. One log line says which source was used (never the key).
    """
    raw = os.environ.get(env)
    if raw is not None:
        key = check_key(raw.encode("utf-8"), f"${env}")
        log.info("pseudonym key: from the environment variable $%s", env)
        return key
    path = Path(key_file).expanduser()
    if path.exists():
        key = _read_key_file(path)
        log.info("pseudonym key: from the key file %s", path)
        return key
    if not create:
        raise PseudonymKeyError(
            f"no pseudonym key: set ${env} or create {path} with mode 0600 holding a random key "
            "of 64 hex digits"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(KEY_BYTES))
    log.warning("created a new pseudonym key at %s (keep it outside git; back it up)", path)
    return _read_key_file(path)


def is_demo_source(fmt: str, path: str) -> bool:
    """True for the simulated demo dump (the only one the published demo key may touch)."""
    return (fmt, Path(path).as_posix().rstrip("/")) == DEMO_SOURCE


def resolve_key(priv: PrivacyParams, source: SourceParams) -> bytes:
    """The pseudonym key of a run as ``privacy.key_source`` says.

    ``secret`` (every real dump): :func:`load_key`. ``demo``: the published :data:`DEMO_KEY`,
    refused unless the only configured source is the simulated demo, since a published key
    protects nobody.
    """
    if priv.key_source == "secret":
        return load_key(priv.key_env, priv.key_file, priv.create_key)
    foreign = [f"{s.format}:{s.path}" for s in source.all() if not is_demo_source(s.format, s.path)]
    if foreign or source.extra:
        raise PseudonymKeyError(
            "privacy.key_source is 'demo' (a published key, not a secret) but the run reads "
            f"{', '.join(foreign) or 'source.extra'}; set privacy.key_source: secret and provide "
            f"${priv.key_env} or {priv.key_file}"
        )
    log.info("pseudonym key: the published demo key (privacy.key_source: demo; not a secret)")
    return DEMO_KEY


def fingerprint(key: bytes) -> str:
    """A public fingerprint of ``key``: changes when the key changes, reveals nothing.

    Derived with scrypt (memory-hard, ~0.1 s per guess), so that the fingerprint in
    ``inputs.json`` cannot serve to test guessed keys quickly.
    """
    return hashlib.scrypt(key, salt=b"resonance-key-fingerprint-v2", **FINGERPRINT_SCRYPT).hex()


def pseudonym(key: bytes, namespace: str, kind: str, raw_id: str, prefix: str) -> str:
    """Keyed pseudonym of one raw id; ``kind`` separates accounts, posts and reactions."""
    msg = f"{namespace}\x1f{kind}\x1f{raw_id}".encode()
    return prefix + hmac.new(key, msg, hashlib.sha256).hexdigest()[:DIGEST_HEX]


def _digests(uniq: pl.Series, key: bytes, namespace: str, kind: str, prefix: str) -> pl.Series:
    """Pseudonyms of the distinct, non-null raw ids ``uniq`` (one HMAC each, in their order)."""
    # HMAC-SHA256 by its definition (RFC 2104) from the two padded-key states, copied per id:
    # the same digests as hmac.new, a third faster than a fresh HMAC per id
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    inner.update(f"{namespace}\x1f{kind}\x1f".encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def one(v: bytes, icopy=inner.copy, ocopy=outer.copy) -> bytes:
        h = icopy()
        h.update(v)
        o = ocopy()
        o.update(h.digest())
        return o.digest()

    # UTF-8 bytes in, raw digests out: the encoding, hex and prefix are done by polars
    digests = pl.Series([one(v) for v in uniq.cast(pl.Binary).to_list()], dtype=pl.Binary)
    return (prefix + digests.bin.encode("hex").str.slice(0, DIGEST_HEX)).alias(uniq.name)


def pseudonymise_series(
    s: pl.Series, key: bytes, namespace: str, kind: str, prefix: str
) -> pl.Series:
    """Pseudonyms of every raw id of ``s`` (nulls stay null), one HMAC per distinct id.

    The distinct ids are hashed (:func:`_digests`) and joined back, so a column where each
    author appears a thousand times costs a thousand times fewer HMACs.
    """
    s = s.cast(pl.String)
    uniq = s.drop_nulls().unique()
    table = pl.DataFrame({"raw": uniq, "pseudonym": _digests(uniq, key, namespace, kind, prefix)})
    return (
        pl.DataFrame({"raw": s})
        .join(table, on="raw", how="left", maintain_order="left")["pseudonym"]
        .alias(s.name)
    )


def digest_table(
    uniq: pl.Series, key: bytes, namespace: str, kind: str, prefix: str
) -> pl.DataFrame:
    """``raw`` ids (distinct, non-null: the caller guarantees it) and their ``pseudonym``."""
    uniq = uniq.cast(pl.String)
    return pl.DataFrame({"raw": uniq, "pseudonym": _digests(uniq, key, namespace, kind, prefix)})


def pseudonymise_columns(
    df: pl.DataFrame,
    cols: Iterable[str],
    table: pl.DataFrame,
    key: bytes,
    namespace: str,
    kind: str,
    prefix: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``df`` with every raw id in ``cols`` replaced by its pseudonym (nulls stay null).

    ``table`` (:func:`digest_table`) holds ids already digested; an id it lacks is digested
    here, once, and added. A hash join per column (faster than ``replace_strict`` with a map of
    a million ids). Returns the frame and the table grown by the new ids.
    """

    def lookup(raw: pl.Series, table: pl.DataFrame) -> pl.Series:
        out = pl.DataFrame({"raw": raw}).join(table, on="raw", how="left", maintain_order="left")
        if out.height != raw.len():  # a raw id twice in the table would add rows
            raise RuntimeError(f"pseudonyms of {raw.name}: the id table holds a raw id twice")
        return out["pseudonym"].alias(raw.name)

    for col in cols:
        raw = df[col].cast(pl.String)
        mapped = lookup(raw, table)
        gap = raw.is_not_null() & mapped.is_null()
        if gap.any():
            extra = digest_table(raw.filter(gap).unique(), key, namespace, kind, prefix)
            table = pl.concat([table, extra])
            mapped = mapped.zip_with(~gap, lookup(raw, extra))
        df = df.with_columns(mapped)
    return df, table


def pseudonymise_expr(col: str, key: bytes, namespace: str, kind: str, prefix: str) -> pl.Expr:
    """A polars expression replacing raw ids in ``col`` by pseudonyms (nulls stay null).

    Batch by batch (elementwise), so the streaming engine may split it; within a batch one
    HMAC per distinct id (:func:`pseudonymise_series`).
    """
    return pl.col(col).map_batches(
        lambda s: pseudonymise_series(s, key, namespace, kind, prefix),
        return_dtype=pl.String,
        is_elementwise=True,
    )


# --------------------------------------------------------------------------- opt-out


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


# --------------------------------------------------------------------------- scrubbing

ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")
# Every pattern below runs in time linear in the text (issue 13: the former e-mail pattern took
# 3.8 s on "A" * 20,000 and 64 s on 60k hex digits). The rules that make them so:
# * a pattern that starts with a run of word characters starts only where such a run starts
#   (a lookbehind), so a long run is tried once, not once per character;
# * runs are possessive (``++``, ``*+``: Python 3.11+), so a failed match does not backtrack
#   through them;
# * spans between two delimiters are bounded (``{0,1000}``).
# ``benchmarks/scrub_linear.py`` prints the time against the length for adversarial shapes.
HTML_MENTION = re.compile(
    r"<a\b[^<>]{0,1000}?\b(?:mention|u-url)\b[^<>]{0,1000}>.{0,1000}?</a>", re.I | re.S
)
HTML_TAG = re.compile(r"<[^>]{0,2000}>")
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++[ \t]{0,3}+@[ \t]{0,3}+[\w-]++(?:\.[\w-]++)+", re.U)
_OPEN, _CLOSE = r"[(\[{]?+", r"[)\]}]?+"
OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]++\s*+{_OPEN}\s*+(?:at|AT)\s*+{_CLOSE}\s*+[\w-]++"
    rf"(?:\s*+{_OPEN}\s*+(?:dot|DOT)\s*+{_CLOSE}\s*+[A-Za-z]{{2,}})+\b"
)
FEDI_HANDLE = re.compile(r"(?<![\w.\-@])@[\w.\-]++@[\w\-]++(?:\.[\w\-]++)+", re.U)
URL = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]++"
    r"|(?<![\w.\-])(?:[a-z0-9-]++\.)+(?:com|org|net|io|co|de|fr|uk|edu|gov|me|ly|gl|be|social"
    r"|app|dev|info)(?:/[^\s<>\"')\]]*+)?",
    re.I,
)
REDDIT_USER = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{2,}", re.U)
HANDLE = re.compile(r"(?<![\w@])@[\w](?:[\w.\-]*\w)?", re.U)
# Not glued to a digit after: "795-8500w", "365-0564m" and "461-5001x431" (work, mobile,
# extension) in real Usenet signatures are phone numbers too (found by the independent audit).
# A line break may split a number ("312-702-\n8367").
# 7 to 15 digits, at most three separators between two digits: a long run of "_" or spaces
# ends a number, so an earlier number cannot swallow the start of a phone ("79______ 0-671-...").
PHONE = re.compile(r"(?<![\w+.])(?:\+|00)?\(?\d(?:[ \t\r\n.\-()/_]{0,3}\d){6,14}(?!\d)")
DECIMAL = re.compile(r"\d+\.\d+")
WS = re.compile(r"[ \t\u00a0]+")

PLACEHOLDERS = ("[handle]", "[email]", "[url]", "[phone]", "[user]")


DATE_LIKE = re.compile(
    r"^\s*(?:\d{4}[-./_]\d{1,2}[-./_]\d{1,2}|\d{1,2}[-./_]\d{1,2}[-./_]\d{4})\s*$"
)


def _phone(m: re.Match[str]) -> str:
    raw = m.group(0).lstrip("+(")
    raw = (
        raw[2:] if raw.startswith("00") else raw
    )  # international prefix "00" is not a digit of E.164
    digits = sum(ch.isdigit() for ch in raw)
    # Years, prices and version numbers are short; phone numbers have 7 to 15 digits.
    # Calendar dates have 8 digits too and are not personal data.
    if DATE_LIKE.match(m.group(0)) or DECIMAL.fullmatch(m.group(0)):
        return m.group(0)
    return "[phone]" if 7 <= digits <= 15 else m.group(0)


def scrub_text(text: str | None, names: NameRedactor | None = None) -> str | None:
    """Scrub one text: markup mentions, e-mails, URLs, handles, phones and known names.

    The order matters: HTML mention links and e-mails go before bare handles (``@user@host``
    would otherwise leave ``@host``), URLs before phones (digits in paths).
    """
    if text is None:
        return None
    t = unicodedata.normalize("NFKC", strip_invisible(text))
    t = HTML_MENTION.sub("[handle]", t)
    t = HTML_TAG.sub(" ", t)
    t = FEDI_HANDLE.sub("[handle]", t)
    t = EMAIL.sub("[email]", t)
    t = OBFUSCATED_EMAIL.sub("[email]", t)
    t = URL.sub("[url]", t)
    t = REDDIT_USER.sub("[handle]", t)
    t = HANDLE.sub("[handle]", t)
    t = PHONE.sub(_phone, t)
    t = WS.sub(" ", t)
    if names is not None:
        t = names.redact(t)
    return t.strip()


#: Longest reject reason kept (a reason describes a problem; it is not a place for data).
MAX_REASON_CHARS = 160


def safe_reason(reason: str | None, names: NameRedactor | None = None) -> str | None:
    """A reject reason or log message fit for an output: scrubbed, then truncated.

    Reasons should not echo values at all; this is the net under every adapter that does
    (an e-mail in a Reputation attribute landed in rejects.parquet and the git-tracked
    reports/metrics/ingest.json).
    """
    if reason is None:
        return None
    out = scrub_text(reason[: MAX_REASON_CHARS * 4], names) or ""
    return out if len(out) <= MAX_REASON_CHARS else out[: MAX_REASON_CHARS - 1] + "…"


def scrub_expr(col: str, names: NameRedactor | None = None) -> pl.Expr:
    """A polars expression scrubbing the texts of ``col``: :func:`scrub_text`, vectorised.

    See ``analysis.scrub``: Rust regexes over the whole column, the same output as
    :func:`scrub_text` (which stays the reference and the route of the rare rows that need it).
    """
    from analysis import scrub  # scrub builds on this module

    return scrub.scrub_expr(col, names)
