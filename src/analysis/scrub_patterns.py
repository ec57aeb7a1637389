"""The pattern steps of the vectorised scrubber (``analysis.scrub``, stage ``ingest``).

Every pattern of ``privacy.scrub_text`` but the known names, as Rust regexes over a whole
column (polars ``str.replace_all``), in its order and with its output; reads and writes nothing:

* Python's lookbehinds become a consumed prefix put back by the replacement (``(^|[^\\w.])`` ->
  ``${1}``); possessive runs are rewritten where backtracking could change the match (the
  obfuscated e-mail); the phone pattern's ``(?!\\d)`` becomes a marker (``\\x02``) inserted after
  every digit run, and its callback (dates, decimals, short ``00`` numbers are kept) becomes
  three anchored rules over ``\\x00match\\x01`` markers.
* :func:`needs_python` finds, with one regex, the rows holding a character on which Rust and
  Python disagree (:data:`analysis._unicode_unsafe`); ``analysis.scrub`` sends them to
  ``privacy.scrub_text``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from analysis import _unicode_unsafe
from analysis.names import INVISIBLE_RS, REDDIT_NAME_CHAR
from analysis.privacy import (
    ANGLE_AT_DOT,
    ANY_TLD_PATH,
    CHAR_REF,
    COMMON_CHAR_REFS,
    DEFANGED_DOT,
    DEFANGED_HOST,
    EMAIL_AT,
    EMAIL_DOMAIN,
    EMAIL_LOCAL,
    INLINE_TAG,
    OBFUSCATED_EMAIL_BODY,
    PHONE_DASHES,
    PHONE_OTHER_SEPS,
    PLATFORM_HANDLE_BODY,
    PLATFORM_PREFIX,
    PLATFORMS,
    SOFT_HYPHEN_BREAK_RS,
    SPACED_AT_BODY,
    URL_RUN,
    URL_SCHEME,
    URL_TLDS,
)

#: Characters the scrubber uses as markers (a text holding one goes to the Python route).
_M_OPEN, _M_CLOSE, _M_END = "\x00", "\x01", "\x02"


def _cls(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


#: Rows whose raw text holds one of these, or whose NFKC text holds one of ``_NORM_UNSAFE``,
#: are scrubbed by ``privacy.scrub_text`` (see the module docstring).
_RAW_UNSAFE = _cls(_unicode_unsafe.RAW)
_NORM_UNSAFE = _cls(_unicode_unsafe.NORMALISED)
#: The one adjacency the prefix emulation cannot see: a ``/u/name-`` match followed at once by
#: another ``u/``, ``u_`` or ``r/u_`` (Python's lookbehind reads the ``-`` the first match
#: consumed).
_REDDIT_ADJACENT = r"-(?:/?u/|/user/|/?r/u_|u_)"

#: ``privacy.REDDIT_USER``, its lookbehind a consumed prefix
REDDIT_USER = (
    rf"(^|[^\w/])(?:/?u/{REDDIT_NAME_CHAR}{{2,}}|/user/{REDDIT_NAME_CHAR}{{3,}}"
    rf"|(?:/?r/)?u\\?_{REDDIT_NAME_CHAR}{{3,}})"
)
_SEP = rf"[ \t\r\n.\-()/_{PHONE_DASHES}]"
_DATE_SEP = rf"[\-./_{PHONE_DASHES}]"
_OPEN, _CLOSE = r"[(\[{]", r"[)\]}]"
#: ``privacy.PHONE_GROUPED``: its lookbehind a consumed prefix, its lookahead a consumed
#: suffix (``${2}`` puts it back). A suffix may consume the prefix of the next number
#: ("202,555,0143 202:555:0143"), so the step runs twice: the second pass finds every number
#: the first skipped so (its left neighbour is then "[phone]", which consumes nothing).
_OTHER_RS = {c: {"|": r"\|", "\u2019": r"\x{2019}"}.get(c, c) for c in PHONE_OTHER_SEPS}
_OTHER = "".join(_OTHER_RS.values())
_GROUPED = "|".join(rf"\d{{3}}{e}\d{{3}}{e}\d{{4}}" for e in _OTHER_RS.values())
_PHONE_GROUPED = (
    rf"(^|[^\w+.{_OTHER}])(?:{_GROUPED})($|[^\w.{_OTHER}]|[.{_OTHER}](?:$|\D))",
    "${1}[phone]${2}",
)
#: (pattern, replacement) in the order of ``privacy.scrub_text``; each one's comment says how it
#: differs from the Python pattern and why the difference cannot change a match.
_STEPS: tuple[tuple[str, str], ...] = (
    # identical syntax and semantics
    (r"(?is)<a\b[^<>]{0,1000}?\b(?:mention|u-url)\b[^<>]{0,1000}>.{0,1000}?</a>", "[handle]"),
    (ANGLE_AT_DOT.pattern, "(${1})"),
    (rf"(?i){INLINE_TAG}", ""),
    (r"<[^>]{0,2000}>", " "),
    # lookbehind -> consumed prefix; a match ends in [\w-], never a valid prefix of the next
    (r"(^|[^\w.\-@])@[\w.\-]+@[\w\-]+(?:\.[\w\-]+)+", "${1}[handle]"),
    (
        rf"(^|[^\w.+\-]){EMAIL_LOCAL}[ \t]{{0,3}}{EMAIL_AT}[ \t]{{0,3}}{EMAIL_DOMAIN}".replace(
            "++", "+"
        ),
        "${1}[email]",
    ),
    # no possessive run in the Python pattern: the same text after the prefix
    (rf"(^|[^\w.+\-])(?:{OBFUSCATED_EMAIL_BODY})", "${1}[email]"),
    # the unprefixed first branch is kept first, then it, the domain branch and the defanged
    # host with a prefix, so that at every start the branches are tried in Python's order; the
    # labels of the defanged host are no possessive runs: a label is followed by a separator
    # or TLD it cannot hold, so backing off it changes no match
    (
        rf"(?i){URL_SCHEME}{URL_RUN}+"
        rf"|(^|[^\w.\-]){URL_SCHEME}{URL_RUN}+"
        rf"|(^|[^\w.\-])(?:[a-z0-9-]+\.)+(?:{URL_TLDS})(?:/[^\s<>\"')\]]*)?"
        rf"|(^|[^\w.\-]){DEFANGED_HOST}"
        rf"|(^|[^\w.\-])(?:[a-z0-9-]+\.)+{ANY_TLD_PATH}*",
        "${1}${2}${3}${4}[url]",
    ),
    (REDDIT_USER, "${1}[handle]"),
    (r"(^|[^\w@])@\w(?:[\w.\-]*\w)?", "${1}[handle]"),
    # lookbehind -> consumed prefix; a match ends in \w, never a valid prefix of the next
    (rf"(^|[^\w.\-]){PLATFORM_PREFIX}{PLATFORM_HANDLE_BODY}", "${1}${2}[handle]"),
    (rf"(^|[^\w@]){SPACED_AT_BODY}", "${1}[handle]"),
    _PHONE_GROUPED,
    _PHONE_GROUPED,
    # phone: \x02 after every digit run stands for (?!\d) and for a digit before the start
    (r"(\d)(\D|$)", "${1}" + _M_END + "${2}"),
    (
        rf"(^|[^\w+.{_M_END}])((?:\+|00{_M_END}?)?\(?\d(?:{_M_END}?{_SEP}{{0,3}}\d){{6,14}}{_M_END})",
        "${1}" + _M_OPEN + "${2}" + _M_CLOSE,
    ),
    (_M_END, ""),
    # privacy._phone keeps calendar dates, decimals and "00" numbers of under 7 digits
    (
        rf"{_M_OPEN}(\d{{4}}{_DATE_SEP}\d{{1,2}}{_DATE_SEP}\d{{1,2}}"
        rf"|\d{{1,2}}{_DATE_SEP}\d{{1,2}}{_DATE_SEP}\d{{4}}"
        rf"|\d+\.\d+|[+(]*00[^\d{_M_CLOSE}]*(?:\d[^\d{_M_CLOSE}]*){{0,6}}){_M_CLOSE}",
        "${1}",
    ),
    (rf"{_M_OPEN}[^{_M_CLOSE}]*{_M_CLOSE}", "[phone]"),
    # a run of blanks becomes one space: a single space is left alone (the same output)
    (r"[ \t\x{A0}]{2,}|[\t\x{A0}]", " "),
)
#: (first step, last step + 1, test): a text the test does not match is left unchanged by
#: those steps (each test is implied by every match of its steps), so they run on fewer rows
_GATES: tuple[tuple[int, int, str], ...] = (
    (0, 4, "<"),
    (4, 5, "@"),
    (5, 6, "@|%40"),  # the e-mail's "@" may be percent-encoded (privacy.EMAIL_AT)
    # every obfuscated e-mail holds "@" or the word "at" after a space or bracket
    (6, 7, r"@|[\s(\[{][Aa][Tt][\s)\]}]"),
    # every URL holds "://", "[:]", "www." or a dot before a TLD, or a bracketed dot
    (7, 8, rf"(?i)://|\[:\]|www\.|\.(?:{URL_TLDS})|{DEFANGED_DOT}|\.[a-z]{{2,24}}/"),
    (8, 9, r"u(?:/|\\?_)|/user/"),
    (9, 10, "@"),
    (10, 11, rf"(?i)(?:{PLATFORMS})[ \t]*:"),
    (11, 12, "@ "),
    (12, 14, rf"\d{{3}}[{_OTHER}]\d{{3}}"),
    (14, 19, rf"\d(?:{_SEP}{{0,3}}\d){{6}}"),
    (19, 20, r"[ \t\x{A0}]{2,}|[\t\x{A0}]"),
)


#: the steps of the markup (mentions, bracketed "at"/"dot", tags): character references are
#: decoded after them
_TAG_STEPS = 4
_COMMON_REFS = "|".join(COMMON_CHAR_REFS)


def needs_python(raw: pl.Expr, normalised: pl.Expr) -> pl.Expr:
    """True for the rows the vectorised scrubber cannot vouch for (they take the Python route)."""
    return (
        raw.str.contains(_RAW_UNSAFE)
        | normalised.str.contains(_NORM_UNSAFE)
        | normalised.str.contains(_REDDIT_ADJACENT)
        # an HTML character reference but the five common ones (``privacy.CHAR_REF``)
        | normalised.str.replace_all(_COMMON_REFS, "").str.contains(CHAR_REF.pattern)
    ).fill_null(False)


def normalised(col: pl.Expr) -> pl.Expr:
    """``privacy.visible`` and NFKC, as ``privacy.scrub_text`` begins."""
    col = col.str.replace_all(*SOFT_HYPHEN_BREAK_RS)
    return col.str.replace_all(INVISIBLE_RS, "").str.normalize("NFKC")


def only(texts: pl.Series, test: str, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fn`` applied to the texts ``test`` matches; the others are kept as they are."""
    idx = texts.str.contains(test, literal=test in ("<", "@")).fill_null(False).arg_true()
    if idx.len() == 0:
        return texts
    # scatter writes in place: never into the caller's series
    return texts.clone().scatter(idx, fn(texts.gather(idx)))


def normalise_series(texts: pl.Series) -> pl.Series:
    """Without format characters, NFKC (ASCII texts, most of them, are left as they are)."""
    return only(
        texts,
        r"[^\x00-\x7F]",
        lambda s: s.to_frame().select(normalised(pl.col(s.name))).to_series(),
    )


def _steps(texts: pl.Series, first: int, last: int) -> pl.Series:
    for pattern, repl in _STEPS[first:last]:
        texts = texts.str.replace_all(pattern, repl, literal=pattern == _M_END)
    return texts


def patterns_series(texts: pl.Series) -> pl.Series:
    """Every pattern step of ``privacy.scrub_text`` but the names, in its order."""
    for first, last, test in _GATES:
        texts = only(texts, test, lambda s, a=first, b=last: _steps(s, a, b))
        if last == _TAG_STEPS:
            # privacy.decode_char_refs of the rows left here: at most the five common ones
            # (leftmost, one pass, as the Python pattern: "&amp;lt;" -> "&lt;")
            texts = only(
                texts,
                "&",
                lambda s: s.str.replace_many(
                    list(COMMON_CHAR_REFS), list(COMMON_CHAR_REFS.values())
                ),
            )
    return texts
