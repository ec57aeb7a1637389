"""Adapter ``usenet``: a folder tree of raw RFC 1036 news articles, one article per file.

Serves stage ``ingest``. ``source.path`` is a folder such as ``mini_newsgroups/<group>/<number>``
(every regular file below it, hidden files such as ``.DS_Store`` excepted, is one article) or a
single article file. Mapping:

* ``Message-ID`` -> ``post_id`` (kept with its angle brackets, as ``References`` writes it);
* ``From`` -> the author: the address, lower-cased, is ``account_id``; the address as written
  goes to ``handle`` and the name part (``addr (Name)`` or ``Name <addr>``) to
  ``display_name``. Both are personal data: ingest pseudonymises and scrubs them. 1993
  addresses are not all e-mail addresses: a UUCP path (``host!user``) or a bare local name is
  kept as written; a From that is only a name, or a list of words, has no address;
* ``References``: the last one -> ``parent_post_id``, the first one -> ``root_post_id``, each
  only if that article is in the dump; an article with ``References`` is kind ``reply``,
  otherwise ``post``. A follow-up without ``References`` (moderated groups and mail gateways
  dropped it) takes its parent from an ``In-Reply-To`` of Message-IDs, else from its own,
  unquoted attribution line ``In article <id>, ... writes:`` (:func:`_follow_up_of`);
* ``Newsgroups`` -> ``labels``; ``Date`` -> ``created_at`` via :func:`email.utils.
  parsedate_to_datetime` (dates without a zone, or ``-0000``, are taken as UTC; ``+02`` is two
  hours; a comment's offset stands in for an unknown zone, ``EDT(-0400)``; common zone
  abbreviations beyond RFC 822 are known, :data:`EXTRA_ZONES`, and a Date in any other zone is
  rejected rather than read as UTC);
* text = ``Subject``, a blank line, then the body as written (quotes and signatures included).

Encoding: 1993 articles predate MIME for the most part, so each file is decoded as UTF-8 and,
if that fails, as Latin-1 (which cannot fail); RFC 2047 encoded words in headers are decoded.

No dangling links: when the direct parent (the last reference) is not in the dump, the parent is
null and the reply keeps kind ``reply``; its root is still the first reference where that
article is in the dump (the thread is known, the article it answered is not: 33 replies of
``usenet-mini-newsgroups``), else null. Its addressee is then taken from the
attribution line the body quotes, ``In article <parent-id>, addr (Name) writes:``, but only
when that line names the same Message-ID as the last reference: ``reply_to_account_id`` is that
address, and the addressee is added to ``accounts`` (a non-participant unless they also post).

Rejects: files without ``Message-ID`` or without a usable ``From`` address, unparsable or
out-of-range dates, files with NUL bytes (not text), and cross-posted copies: the same article
stored under two groups (same ``Message-ID``) is read once, the second copy is rejected with
reason ``duplicate Message-ID (cross-posted copy)``. Measured on ``usenet-mini-newsgroups``:
all 2,000 files have a Message-ID (so no id has to be derived from group/number) and a From;
4 From headers carry no address (``()``, a name in parentheses, a list of words) and 8 files
are cross-posted copies: 1,988 articles accepted, 1,285 of them replies (55 known as replies
only from In-Reply-To or their attribution line). 89 replies have their parent in the sample,
649 more get ``reply_to_account_id`` from an attribution line. There are no deleted authors
on Usenet. ``source_file`` in rejects is the path relative to ``source.path``.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import Parser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from analysis import schema
from analysis.sources.base import Rejects, SourceError, SourceTables, frame

log = logging.getLogger(__name__)

PLATFORM = "usenet"
MISSING_INPUTS = ("follower_count", "reactions", "n_views", "score")
_MSGID = re.compile(r"<[^<>\s]+>")
_ANGLE = re.compile(r"^\s*(.*?)\s*<([^\s<>]+)>\s*$")  # Name <addr>
_BARE = re.compile(r"^\s*([^\s()<>,;\"]+)\s*(?:\((.*)\))?\s*$")  # addr (Name)
_EMAIL = re.compile(r"[^\s()<>,;\"]+@[^\s()<>,;\"]+")
# "In article <id>, addr (Name) writes:" / "In article <id> Name <addr> writes:", maybe wrapped.
_ATTRIBUTION = re.compile(
    r"In\s+article\s+(<[^<>\s]+>),?\s+(.{1,160}?)\s+(?:writes|wrote|says)\s*:", re.DOTALL
)


def _articles(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not found:
        raise SourceError(
            path,
            None,
            "no article files in the folder",
            "a tree of raw news articles, one per file (e.g. <group>/<number>)",
        )
    return found


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _header(value: Any) -> str:
    """A header as text, with RFC 2047 encoded words decoded where they are well formed."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text))).strip()
    except (UnicodeDecodeError, LookupError, ValueError):
        return text.strip()


def _address(value: str, need_at: bool = False) -> tuple[str, str] | None:
    """(address, display name) of a From header or an attribution; None without an address.

    1993 headers hold more than e-mail addresses: UUCP bang paths (``host!user``), bare local
    names and doubled domains. Any single address token is kept as written; a header that is
    only a name, or a list of words, has no address. ``need_at`` asks for an ``@`` address.
    """
    angle, bare = _ANGLE.match(value), _BARE.match(value)
    if angle:
        addr, name = angle[2], angle[1].strip().strip('"')
    elif bare:
        addr, name = bare[1], bare[2] or ""
    else:
        found = _EMAIL.search(value)
        if found is None:
            return None
        addr, name = found[0], ""
    if need_at and "@" not in addr.strip("@"):
        return None
    return addr, " ".join(name.split())


#: Zone abbreviations that RFC 822 does not define (``email.utils`` knows UT, GMT, Z and the
#: North American zones) but 1990s headers use, as hours and minutes east of UTC. Ambiguous
#: ones (IST: India, Israel or Ireland) are left out: a Date in an unknown zone is rejected.
EXTRA_ZONES = {
    "UTC": 0, "WET": 0, "WEST": 100, "BST": 100, "CET": 100, "MET": 100, "MEZ": 100,
    "CEST": 200, "MEST": 200, "MESZ": 200, "EET": 200, "SAST": 200, "EEST": 300, "IDT": 300,
    "MSK": 300, "HKT": 800, "SGT": 800, "AWST": 800, "JST": 900, "KST": 900, "ACST": 930,
    "AEST": 1000, "AEDT": 1100, "NZST": 1200, "NZDT": 1300, "HST": -1000, "AKST": -900,
    "AKDT": -800, "AST": -400, "ADT": -300, "NST": -330, "NDT": -230,
}  # fmt: skip
_COMMENT = re.compile(r"\s*\(([^()]*)\)\s*$")
_SHORT_OFFSET = re.compile(r"(\s[+-]\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{4}$")
_RFC822_ZONES = {"UT", "GMT", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"}


def _parses(text: str) -> bool:
    try:
        return parsedate_to_datetime(text) is not None
    except (TypeError, ValueError, IndexError, OverflowError):
        return False


def _date(value: str) -> datetime | str | None:
    """A Date header as a UTC datetime; None where unparsable; ``"unknown zone"`` where the time
    is readable but its zone is not (a guess of UTC could be hours off).

    Beyond :func:`email.utils.parsedate_to_datetime`: a trailing comment is dropped, its offset
    used where the zone before it is unknown (``EDT(-0400)``); a two-digit offset is hours
    (``+02`` is +02:00, not +00:02); :data:`EXTRA_ZONES` are known. No zone, or ``-0000``
    (RFC 2822: unknown local time), is taken as UTC, as before."""
    text = value.strip()
    comment = _COMMENT.search(text)
    if comment is not None:
        text = text[: comment.start()].rstrip()
    text = _SHORT_OFFSET.sub(r"\g<1>00", text)
    parts = text.split()
    zone = parts[-1] if parts and parts[-1].isalpha() else None
    if zone is not None and zone.upper() not in _RFC822_ZONES:
        minutes = EXTRA_ZONES.get(zone.upper())
        note = comment[1].strip() if comment is not None else ""
        if minutes is not None:
            text = f"{' '.join(parts[:-1])} {'+' if minutes >= 0 else '-'}{abs(minutes):04d}"
        elif _OFFSET.match(note):
            text = f"{' '.join(parts[:-1])} {note}"
        else:  # a readable time in a zone not known here; else not a date at all
            return "unknown zone" if _parses(" ".join(parts[:-1])) else None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _follow_up_of(in_reply_to: str, body: str) -> list[str]:
    """The Message-ID a follow-up without ``References`` names as its parent, if any.

    Moderated groups and mail-to-news gateways often dropped ``References`` (in the mini
    newsgroups, soc.religion.christian's follow-ups have none). Such an article still says what
    it answers: an ``In-Reply-To`` made of Message-IDs (the GNUS form ``addr's message of
    <date>`` names no article and is not read), else its own attribution line, ``In article
    <id>, addr writes:`` standing unquoted at the start of a line (a quoted one, behind ``>``,
    belongs to an older article of the thread)."""
    ids = _MSGID.findall(in_reply_to)
    if ids and not _MSGID.sub("", in_reply_to).strip():
        return ids[-1:]
    for match in _ATTRIBUTION.finditer(body):
        line_start = body.rfind("\n", 0, match.start()) + 1
        if not body[line_start : match.start()].strip():
            return [match[1]]
    return []


def _article(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one article into a post row (raw links, author fields) or a reject reason."""
    if b"\x00" in raw:
        return None, "not a text article (NUL bytes)"
    msg = Parser(policy=compat32).parsestr(_decode(raw))
    mids = _MSGID.findall(_header(msg.get("Message-ID")))
    if not mids:
        return None, "missing Message-ID"
    post_id = mids[0]
    author = _address(_header(msg.get("From")))
    if author is None:
        return {"post_id": post_id}, "missing From address"
    created = _date(_header(msg.get("Date")))
    if created == "unknown zone":
        return {"post_id": post_id}, "Date in an unknown time zone"
    if not isinstance(created, datetime):
        return {"post_id": post_id}, "unparsable Date"
    if not schema.MIN_TIME <= created <= schema.max_time():
        return {"post_id": post_id}, "created_at out of range"
    groups = [g.strip() for g in _header(msg.get("Newsgroups")).split(",") if g.strip()]
    body = msg.get_payload()
    body = body if isinstance(body, str) else ""
    refs = [r for r in _MSGID.findall(_header(msg.get("References"))) if r != post_id]
    if not refs:
        refs = [r for r in _follow_up_of(_header(msg.get("In-Reply-To")), body) if r != post_id]
    subject = _header(msg.get("Subject"))
    text = "\n\n".join(part for part in (subject, body.strip("\n")) if part.strip())
    addressee = None
    if refs:
        for quoted_id, who in _ATTRIBUTION.findall(body):
            if quoted_id == refs[-1]:
                addressee = _address(" ".join(who.split()), need_at=True)
                break
    return {
        "post_id": post_id,
        "platform": PLATFORM,
        "account_id": author[0].lower(),
        "kind": "reply" if refs else "post",
        "parent_post_id": refs[-1] if refs else None,
        "root_post_id": refs[0] if refs else None,
        "created_at": created,
        "text": text or None,
        "labels": groups or None,
        "_author": author,
        "_addressee": addressee,
    }, None


def _account(address: tuple[str, str]) -> dict[str, Any]:
    return {
        "account_id": address[0].lower(),
        "platform": PLATFORM,
        "handle": address[0],
        "display_name": address[1] or None,
    }


def read(path: Path) -> SourceTables:
    """Read a tree of raw Usenet articles at ``path`` (or one article file).

    Args:
        path: a folder of article files (any depth) or one article file.

    Returns:
        Raw canonical tables; articles without Message-ID/From, with bad dates and cross-posted
        copies are in ``rejects``.

    Raises:
        SourceError: the folder holds no article files, or a file cannot be read.
    """
    started = time.perf_counter()
    root = path if path.is_dir() else path.parent
    rejects = Rejects()
    posts: dict[str, dict[str, Any]] = {}
    files = _articles(path)
    for file in files:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise SourceError(file, None, f"cannot be read ({exc})", "a readable file") from exc
        row, reason = _article(raw)
        if reason is None and row is not None and row["post_id"] in posts:
            reason = "duplicate Message-ID (cross-posted copy)"
        if reason is not None or row is None:
            # Rejects.add keeps only the file name, which repeats across groups: keep the path.
            rejects.rows.append(
                {
                    "table": "posts",
                    "source_file": str(file.relative_to(root)),
                    "source_line": 1,
                    "record_key": row and row["post_id"],
                    "reason": reason,
                }
            )
            continue
        # the path below the root (file names repeat across groups), line 1: the article
        posts[row["post_id"]] = {
            **row,
            "source_file": str(file.relative_to(root)),
            "source_line": 1,
        }
    accounts: dict[str, dict[str, Any]] = {}
    addressees: list[tuple[str, str]] = []
    for row in posts.values():
        author, addressee = row.pop("_author"), row.pop("_addressee")
        accounts.setdefault(author[0].lower(), _account(author))
        if row["root_post_id"] not in posts:
            row["root_post_id"] = None
        if row["parent_post_id"] not in posts:
            # the thread's first article may be here although the parent is not: the reply
            # keeps that root (its thread), without a parent
            row["parent_post_id"] = None
            if addressee is not None:
                row["reply_to_account_id"] = addressee[0].lower()
                addressees.append(addressee)
    for addressee in addressees:
        # Known only from attribution lines: on the user list, maybe never an author here.
        accounts.setdefault(addressee[0].lower(), _account(addressee))
    log.info(
        "usenet: %d articles read, %d accepted, %d rejected, %d accounts, "
        "%d replies addressed from attribution lines, %.1f s",
        len(files),
        len(posts),
        rejects.count("posts"),
        len(accounts),
        len(addressees),
        time.perf_counter() - started,
    )
    return SourceTables(
        accounts=frame(accounts.values(), "accounts"),
        posts=frame(posts.values(), "posts"),
        reactions=schema.empty("reactions"),
        rejects=rejects.frame(),
        n_read={"posts": len(files), "reactions": 0},
        platform=PLATFORM,
        missing_inputs=MISSING_INPUTS,
    )
