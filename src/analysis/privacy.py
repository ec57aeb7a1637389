"""Privacy primitives used on the way in (stage ``ingest``) and by ``resonance forget``/``audit``.

* keyed pseudonyms: HMAC-SHA256 over ``namespace \\x1f kind \\x1f raw id`` with a secret key
  from the environment or a key file outside git and outside every output (the key, its checks
  and its fingerprint live in ``analysis.privacy_keys``);
* the text scrubber: handles, e-mails (also obfuscated), URLs, phone numbers, platform mention
  markup and the names of known accounts are replaced by placeholders (the name helpers and the
  redactor live in ``analysis.names`` and are re-exported here);
* opt-out entries, stored as keyed digests (HMAC) of the normalised raw account id, live in
  ``analysis.privacy_opt_out``.
"""

from __future__ import annotations

import hashlib
import hmac
import html.entities
import re
import unicodedata

import polars as pl
import polars_hash  # noqa: F401  (registers the ``chash`` expression namespace)

from analysis import names as _names
from analysis.schema import by_slices as _by_slices
from analysis.schema import numbers_as_text as numbers_as_text  # re-exported

# The name helpers live in analysis.names; re-exported here, the interface privacy always had.
CONFUSABLES = _names.CONFUSABLES
FORMAT_CHARS = _names.FORMAT_CHARS
ORDINARY_WORD = _names.ORDINARY_WORD
RUN = _names.RUN
TOKEN = _names.TOKEN
WORD = _names.WORD
AnchorIndex = _names.AnchorIndex
Candidates = _names.Candidates
NameRedactor = _names.NameRedactor
_alternation = _names._alternation
_tokens = _names._tokens
author_counts = _names.author_counts
common_words = _names.common_words
fold = _names.fold
name_variants = _names.name_variants
ordinary_candidates = _names.ordinary_candidates
ordinary_words = _names.ordinary_words
skeleton = _names.skeleton
strip_invisible = _names.strip_invisible
visible = _names.visible
SOFT_HYPHEN_BREAK_RS = _names.SOFT_HYPHEN_BREAK_RS
word_authors = _names.word_authors
prefixes = _names.prefixes

ACCOUNT_PREFIX = "acct_"
POST_PREFIX = "post_"
REACTION_PREFIX = "rx_"
DIGEST_HEX = 16  # 64 bits: collision-free for any dump we will ever see (birthday ~4e9 ids)
#: Ids digested (and looked up) at a time: the transients of a slice, not of a column
#: (:func:`pseudonymise_series`).
DIGEST_ROWS = 1 << 20
#: Ids looked up in a table of pseudonyms at a time (:func:`pseudonymise_lookup`): each slice
#: builds the table's hash again, so slices are longer than :data:`DIGEST_ROWS`.
LOOKUP_ROWS = 1 << 22


def pseudonym(key: bytes, namespace: str, kind: str, raw_id: str, prefix: str) -> str:
    """Keyed pseudonym of one raw id; ``kind`` separates accounts, posts and reactions."""
    msg = f"{namespace}\x1f{kind}\x1f{raw_id}".encode()
    return prefix + hmac.new(key, msg, hashlib.sha256).hexdigest()[:DIGEST_HEX]


def _digests(
    uniq: pl.Series, key: bytes, namespace: str, kind: str, prefix: str | None
) -> pl.Series:
    """Pseudonyms of the distinct, non-null raw ids ``uniq`` (one HMAC each, in their order).

    The same digests as :func:`pseudonym`: computed in Rust over the whole column
    (``polars-hash``'s HMAC-SHA256) when the key is text, as every key :func:`load_key` reads
    is; a key of other bytes (the plugin takes its key as text) by :func:`_digests_python`.
    ``prefix`` None: the pseudonyms as the numbers their hex digits spell (:func:`as_numbers`).
    """
    if prefix is None:
        return as_numbers(_digests(uniq, key, namespace, kind, ""))
    try:
        text_key = key.decode("utf-8")
    except UnicodeDecodeError:
        return _digests_python(uniq, key, namespace, kind, prefix)
    # the key travels to the plugin as a keyword argument: never in an expression's text, a
    # query plan or an error message (tests/unit/test_ingest_fast_paths.py)
    msg = pl.lit(f"{namespace}\x1f{kind}\x1f", dtype=pl.String) + pl.col("raw").cast(pl.String)
    hexes = pl.DataFrame({"raw": uniq}).select(
        (prefix + msg.chash.hmac_sha256(key=text_key).str.slice(0, DIGEST_HEX)).alias(uniq.name)
    )
    return hexes.to_series()


def _digests_python(
    uniq: pl.Series, key: bytes, namespace: str, kind: str, prefix: str
) -> pl.Series:
    """:func:`_digests` one id at a time in Python: for keys that are not UTF-8 text."""
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


def as_numbers(hexes: pl.Series) -> pl.Series:
    """Pseudonyms without their prefix (:data:`DIGEST_HEX` lowercase hex digits) as the
    unsigned 64-bit integers they spell: 8 bytes where the text takes 16 (plus a 16-byte view
    and the prefix in a column of them), in the same order (fixed width, ``0-9`` before
    ``a-f``), given back by :func:`numbers_as_text`."""
    return hexes.str.to_integer(base=16, dtype=pl.UInt64).alias(hexes.name)


def pseudonymise_series(
    s: pl.Series,
    key: bytes,
    namespace: str,
    kind: str,
    prefix: str | None,
    rows: int | None = None,
) -> pl.Series:
    """Pseudonyms of every raw id of ``s`` (nulls stay null), one HMAC per distinct id of each
    slice of ``rows`` ids (default :data:`DIGEST_ROWS`); ``prefix`` None: as numbers
    (:func:`as_numbers`).

    The distinct ids are hashed (:func:`_digests`) and joined back, so a column where each id
    repeats (a thread's root, a reaction's post) costs fewer HMACs. Slice by slice, so the
    join's hash table, its outputs and the digests' own strings hold one slice at a time: a
    column of 7M parent ids (5M distinct) joined whole to a table of 10M post ids held ~1 GiB
    more than its pseudonyms (session 58). A pseudonym is a function of its id alone: the
    slices change no result (an id in several slices or columns is digested in each).
    """

    def one(part: pl.Series) -> pl.Series:
        table = digest_table(part.drop_nulls().unique(), key, namespace, kind, prefix)
        return (
            pl.DataFrame({"raw": part})
            .join(table, on="raw", how="left", maintain_order="left")["pseudonym"]
            .alias(part.name)
        )

    return _by_slices(s.cast(pl.String), rows or DIGEST_ROWS, one)


def digest_column(
    s: pl.Series,
    key: bytes,
    namespace: str,
    kind: str,
    prefix: str | None,
    rows: int | None = None,
) -> pl.Series:
    """Pseudonyms of ``s``, raw ids the caller knows distinct and non-null (a table's own ids),
    one HMAC each, ``rows`` at a time (:func:`pseudonymise_series`'s slices, without its
    distinct ids and join: each is one already); ``prefix`` None: as numbers
    (:func:`as_numbers`). The HMAC's messages and 64-digit digests
    are strings of their own: 10M ids digested at once held +1.28 GiB for 0.37 GiB of
    pseudonyms, a slice at a time +0.52 GiB (the slices put together), 3.6 -> 4.3 s."""
    return _by_slices(
        s.cast(pl.String),
        rows or DIGEST_ROWS,
        lambda part: _digests(part, key, namespace, kind, prefix),
    )


def digest_table(
    uniq: pl.Series, key: bytes, namespace: str, kind: str, prefix: str | None
) -> pl.DataFrame:
    """``raw`` ids (distinct, non-null: the caller guarantees it) and their ``pseudonym``
    (``prefix`` None: as numbers, :func:`as_numbers`)."""
    uniq = uniq.cast(pl.String)
    return pl.DataFrame({"raw": uniq, "pseudonym": _digests(uniq, key, namespace, kind, prefix)})


def pseudonymise_lookup(
    s: pl.Series,
    table: pl.DataFrame,
    key: bytes,
    namespace: str,
    kind: str,
    prefix: str | None,
) -> tuple[pl.Series, pl.DataFrame]:
    """Pseudonyms of every raw id of ``s`` (nulls stay null), looked up in ``table``
    (``prefix`` None: as numbers, :func:`as_numbers`, in a table of numbers).

    ``table`` (:func:`digest_table`) holds ids already digested; an id it lacks is digested
    here, once, and added. A hash join (faster than ``replace_strict`` with a map of a million
    ids), :data:`LOOKUP_ROWS` ids at a time: 10M authors against 491k accounts held +394 MiB
    whole, +305 in slices of 4M ids (1.07 -> 1.18 s; slices of 1M: +535 MiB, the slices put
    together, 1.7 s). Meant for a table of few ids, the accounts': post ids are digested where
    they stand (:func:`digest_column`, :func:`pseudonymise_series`), a table of them would be
    as long as the posts. Returns the pseudonyms and the table grown by the new ids.
    """

    def lookup(raw: pl.Series, table: pl.DataFrame) -> pl.Series:
        out = pl.DataFrame({"raw": raw}).join(table, on="raw", how="left", maintain_order="left")
        if out.height != raw.len():  # a raw id twice in the table would add rows
            raise RuntimeError(f"pseudonyms of {raw.name}: the id table holds a raw id twice")
        return out["pseudonym"].alias(raw.name)

    def one_slice(raw: pl.Series) -> pl.Series:
        nonlocal table  # grown by the ids a slice adds: the next slices find them there
        mapped = lookup(raw, table)
        gap = raw.is_not_null() & mapped.is_null()
        if gap.any():
            extra = digest_table(raw.filter(gap).unique(), key, namespace, kind, prefix)
            table = pl.concat([table, extra])
            mapped = mapped.zip_with(~gap, lookup(raw, extra))
        return mapped

    out = _by_slices(s.cast(pl.String), LOOKUP_ROWS, one_slice)
    return out, table


def pseudonymise_expr(col: str, key: bytes, namespace: str, kind: str, prefix: str) -> pl.Expr:
    """A polars expression replacing raw ids in ``col`` by pseudonyms (nulls stay null).

    Batch by batch (elementwise), so the streaming engine may split it; within a batch one
    HMAC per distinct id of each slice of it (:func:`pseudonymise_series`).
    """
    return pl.col(col).map_batches(
        lambda s: pseudonymise_series(s, key, namespace, kind, prefix),
        return_dtype=pl.String,
        is_elementwise=True,
    )


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
# Inline elements render no break: "<b>Ali</b>ce" reads "Alice", and Mastodon cuts a link's
# text into spans ("<span>https://www.</span><span>example.com/alice-</span><span>quenby/
# </span>"). Made spaces like the other tags, they split the word (no name rule saw "Ali ce
# Quenby") and the URL (its tail was left after "[url]"). They go without a space, before the
# other tags become spaces: a block tag (<p>, <br>, <li>, <td>...) still separates, as it does
# on the page. The name is followed by \b: "<b>" is not "<br>", "<s>" not "<section>", "<u>"
# not "<ul>". Linear: a tag ends at its first ">".
INLINE_TAGS = (
    "a|abbr|b|bdi|bdo|big|cite|code|del|dfn|em|font|i|ins|kbd|mark|s|samp|small|span|strike"
    "|strong|sub|sup|tt|u|var|wbr"
)
INLINE_TAG = rf"</?(?:{INLINE_TAGS})\b[^<>]{{0,2000}}>"
INLINE_JOIN = re.compile(INLINE_TAG, re.I)
# "<at>", "<dot>", "<@>" and "<.>" are no HTML but an e-mail's obfuscated "@" and dots
# ("alice<at>example<dot>com"): written as their bracketed forms before the tags go (which
# turned them into spaces, "alice example com", that no e-mail rule could see), so that
# OBFUSCATED_EMAIL takes the address. Alone ("I'm <at> home") they stay bracketed: no data.
ANGLE_AT_DOT = re.compile(r"<[ \t]*([Aa][Tt]|[Dd][Oo][Tt]|@|\.)[ \t]*>")
# A percent-encoded "@" ("%40") and "." ("%2E") outside a URL are an e-mail's too: "write
# jane.roe%40gmail.com" (a mailto link's text, a query string pasted) came out
# "jane.roe%[url]", the local part kept, and "jane.roe%40gmail%2Ecom" whole (red-team probe).
# The Rust copy (``scrub_patterns``) has no run possessive: each run is followed by what it
# cannot hold (a blank, "@", "%40", "." or "%2E"), so backing off it changes no match.
EMAIL_LOCAL = r"(?:[\w.+-]|%2[BbEe])++"  # "%2B", "%2E": an encoded "+" and "."
EMAIL_AT = r"(?:@|%40)"
EMAIL_DOMAIN = r"[\w-]++(?:(?:\.|%2[Ee])[\w-]++)+"
EMAIL = re.compile(
    rf"(?<![\w.+-]){EMAIL_LOCAL}[ \t]{{0,3}}+{EMAIL_AT}[ \t]{{0,3}}+{EMAIL_DOMAIN}", re.U
)
# Obfuscated e-mails, three shapes (one alternation, tried in this order at each start):
# 1. "@" (spaces on both sides or none: "thanks @bob . Then" is a handle) or a bracketed
#    "at"/"@" ("[at]", "(@)", "{ AT }"), then dots of any form: "dot"
#    (any case, a space before it), a bracketed "dot" or "." ("[.]", "(dot)"), " . " (spaces on
#    both sides: "home. Then" is a sentence) or a plain "." ("user@example dot org",
#    "alice @ gmail . com", "a[at]b.org");
# 2. the word "at" (any case, spaces around it) and a domain with at least one dot that is not
#    a plain "." ("jane.roe At example Dot org", "user [at] mail.example [.] org"): "look at
#    example.com" stays prose (the URL rule takes the URL). When its last dot is a spaced
#    "dot" or " . " (no bracket), the name after it must be a common top-level domain: prose
#    writes "look at this dot plot", "stare at the dot on the map", "meet at home . Then";
# 3. "at" and plain dots only when the local part looks like an address, not a word: a letter
#    first, a ".", "+", "_" or digit inside, no "." last ("alice.smith at gmail.com", "jdoe42 at
#    gmx.de"; not "in 2019 at github.com", "e.g. at example.org"), or words joined by
#    obfuscated dots ("alice dot smith at gmail.com").
# In every shape the local part may be up to four words joined by a bracketed dot or the word
# "dot" with spaces around it ("alice dot smith at example dot com", "alice(dot)smith(at)x.org"):
# a plain " . " there would take the sentence before an address ("Done . jo at x dot com").
# No run of the pattern is possessive, so the Rust copy (analysis.scrub_patterns) matches the
# same. Each stays linear: a run is followed by a character it cannot hold (a space, a bracket,
# "@" or "."), so backing off it fails at once, and a match starts only where a run starts; the
# words of a local part are bounded ({0,3}), since every word of "a dot b dot c ..." is a start.
_LOCAL, _LABEL, _TLD = r"[\w.+-]+", r"[\w-]+", r"[A-Za-z]{2,}\b"
_AT_SIGN = r"(?:\s*[(\[{]\s*(?:[Aa][Tt]|@)\s*[)\]}]\s*|[ \t]{1,3}@[ \t]{1,3}|@)"
_AT_WORD = r"\s+[Aa][Tt]\s+"
_DOT_BRACKET = r"\s*[(\[{]\s*(?:[Dd][Oo][Tt]|\.)\s*[)\]}]\s*"
_DOT_SPACED = r"\s+[Dd][Oo][Tt]\s*|[ \t]{1,3}\.[ \t]{1,3}"
_DOT_WORD = rf"(?:{_DOT_BRACKET}|{_DOT_SPACED})"
_DOT_ANY = rf"(?:{_DOT_WORD}|\.)"
_DOTTED = rf"{_LABEL}(?:\.{_LABEL})*"
#: the top-level domains a spaced "dot" may end an "at" address with: generic ones and country
#: codes that are no English word ("in", "it", "is", "to", "on", "at", "no", "so", "my" are)
KNOWN_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|name|pro|io|ai|app|dev|co|me|tv|cc|xyz|online|site"
    "|tech|social|email|uk|us|ca|au|nz|ie|de|fr|es|nl|be|ch|se|dk|fi|pl|cz|ru|ua|jp|cn|kr|br"
    "|mx|ar|cl|eu|za|gr|pt|hu|ro|sk|hr|lt|lv|ee|tr|tw|hk|sg|vn|ly|gl"
)
#: a spaced last dot of shape 2: a space after "dot" too ("look at the dotnet runtime" is prose)
_DOT_SPACED_LAST = r"(?:\s+[Dd][Oo][Tt]\s+|[ \t]{1,3}\.[ \t]{1,3})"
_DOT_LOCAL = rf"(?:{_DOT_BRACKET}|\s+[Dd][Oo][Tt]\s+)"
_LOCAL_WORDS = rf"{_LOCAL}(?:{_DOT_LOCAL}{_LOCAL}){{0,3}}"
_LOCAL_LIKE = (
    rf"(?:[^\W\d_](?:[^\W\d_]|-)*[.+_\d](?:[\w.+-]*[\w+-])?"
    rf"|{_LOCAL}(?:{_DOT_LOCAL}{_LOCAL}){{1,3}})"
)
#: the three shapes without the lookbehind (the Rust copy puts its own prefix before them)
OBFUSCATED_EMAIL_BODY = (
    rf"{_LOCAL_WORDS}{_AT_SIGN}{_LABEL}(?:{_DOT_ANY}{_LABEL})*{_DOT_ANY}{_TLD}"
    rf"|{_LOCAL_WORDS}{_AT_WORD}{_DOTTED}(?:{_DOT_WORD}{_DOTTED})*"
    rf"(?:{_DOT_BRACKET}{_TLD}|{_DOT_SPACED_LAST}(?i:{KNOWN_TLDS})\b)"
    rf"|{_LOCAL_LIKE}{_AT_WORD}{_DOTTED}\.{_TLD}"
)
OBFUSCATED_EMAIL = re.compile(rf"(?<![\w.+-])(?:{OBFUSCATED_EMAIL_BODY})")
FEDI_HANDLE = re.compile(r"(?<![\w.\-@])@[\w.\-]++@[\w\-]++(?:\.[\w\-]++)+", re.U)
# Defanged URLs, as security posts write links they do not want clickable: "hxxp://",
# "hxxps://", "http[:]//", "fxp://" schemes and dots written "[.]", "(.)", "{.}", "[dot]"
# ("hxxps://evil[.]com/path", "www[.]evil[.]com", "evil[.]com"). A URL's run reads a
# bracketed dot as one token (the plain run stops at "]": "https://evil[.]com" left "]com").
# A bare host needs one bracketed dot and a TLD of the URL list ("foo[.]txt" in a regex stays);
# its labels are bounded ({0,8}): after "]" every label is a start ("a[.]a[.]a[.]...").
URL_TLDS = "com|org|net|io|co|de|fr|uk|edu|gov|me|ly|gl|be|social|app|dev|info"
DEFANGED_DOT = r"(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})"
URL_SCHEME = rf"(?:(?:https?|ftp|hxxps?|fxp)(?:://|\[:\]//|\[://\])|www(?:\.|{DEFANGED_DOT}))"
#: a URL's run after its scheme (a bracketed dot first: "[" alone is a character of the run)
#: a handle or e-mail in a URL's path ("https://indieweb.social/@ann@writing.exchange/1106...")
#: is taken first (FEDI_HANDLE, EMAIL): its placeholder is part of the URL, whose run stopped
#: at its "]" and left the rest ("[url]]/1106...", a status id) in the text
URL_RUN = rf"(?:{DEFANGED_DOT}|\[(?:handle|email)\]|[^\s<>\"')\]])"
#: a bare host with a bracketed dot (the Rust copy: the same text, no run possessive)
DEFANGED_HOST = (
    rf"(?:[a-z0-9-]+\.){{0,8}}[a-z0-9-]+{DEFANGED_DOT}(?:[a-z0-9-]+(?:\.|{DEFANGED_DOT})){{0,8}}"
    rf"(?:{URL_TLDS})\b(?:/{URL_RUN}*)?"
)
#: a bare host of any TLD with a path: "linktr.ee/jane_roe", "vk.ru/id123" (a path makes it a
#: link whatever its TLD; without one only :data:`URL_TLDS` count, "file.txt" stays)
ANY_TLD_PATH = r"[a-z]{2,24}/[^\s<>\"')\]]"
URL = re.compile(
    rf"{URL_SCHEME}{URL_RUN}++"
    rf"|(?<![\w.\-])(?:[a-z0-9-]++\.)+(?:{URL_TLDS})(?:/[^\s<>\"')\]]*+)?"
    rf"|(?<![\w.\-]){DEFANGED_HOST}"
    rf"|(?<![\w.\-])(?:[a-z0-9-]++\.)+{ANY_TLD_PATH}*+",
    re.I,
)
REDDIT_USER = _names.REDDIT_USER  # u/name, /u/name, u_name (a profile)
HANDLE = re.compile(r"(?<![\w@])@[\w](?:[\w.\-]*\w)?", re.U)
# A handle without "@" after a platform's name and ":" ("twitter:alice_smith", "IG: alice.smith")
# and a handle after "@" and one space ("@ edwin_x"). Only unambiguous shapes: a handle there
# holds "_", "." (not last) or a digit ("IG: great post", "Twitter: nothing new" and the
# "twitter:card" meta tags of web pages stay), and after a spaced "@" it starts with a letter and
# holds "_" or a digit ("meet @ 5pm", "@ home" stay; a known name after it is the redactor's).
# ASCII only; ends at a word boundary ("alice." ends at "e"; "alice_é" is no match).
PLATFORMS = (
    "twitter|instagram|insta|ig|tiktok|snapchat|snap|facebook|fb|telegram|tg|reddit|github"
    "|mastodon|bluesky|bsky|threads|discord|twitch|youtube|yt|linkedin|kik|skype"
)
#: a platform's name and ":" (group 1, kept), the prefix of PLATFORM_HANDLE
PLATFORM_PREFIX = rf"((?i:{PLATFORMS})[ \t]*:[ \t]*)"
PLATFORM_HANDLE_BODY = r"[A-Za-z_][A-Za-z0-9]*[_.0-9](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?\b"
PLATFORM_HANDLE = re.compile(rf"(?<![\w.\-]){PLATFORM_PREFIX}{PLATFORM_HANDLE_BODY}")
SPACED_AT_BODY = r"@ [A-Za-z][A-Za-z]*[_0-9][A-Za-z0-9_]*\b"
SPACED_AT_HANDLE = re.compile(rf"(?<![\w@]){SPACED_AT_BODY}")
# Not glued to a digit after: "795-8500w", "365-0564m" and "461-5001x431" (work, mobile,
# extension) in real Usenet signatures are phone numbers too (found by the independent audit).
# A line break may split a number ("312-702-\n8367").
# 7 to 15 digits, at most three separators between two digits: a long run of "_" or spaces
# ends a number, so an earlier number cannot swallow the start of a phone ("79______ 0-671-...").
# Dashes and dots of typography separate digits as "-" and "." do ("202–555–0143" with en
# dashes, U+2010 hyphens, middle dots); NFKC maps fullwidth and small forms to these. Inside a
# character class, as they are (Rust's copy and the audit's use them too).
PHONE_DASHES = "\u00b7\u2010-\u2015\u2027\u2043\u2212\u2219\u30fb"
PHONE = re.compile(
    rf"(?<![\w+.])(?:\+|00)?\(?\d(?:[ \t\r\n.\-()/_{PHONE_DASHES}]{{0,3}}\d){{6,14}}(?!\d)"
)
# A US-shaped number 3-3-4 whose groups are joined by one other separator, the same twice:
# "202,555,0143", "202:555:0143", "202~555~0143", "202'555'0143" (or "’"), "202|555|0143".
# Decided by shape, not by separator: with a last group of four digits it is no number with
# thousands separators (those group by three: "202,555,143", "1'234'567"), no time (2-2-2:
# "12:30:45"), no ratio ("1:2:3") and no table row ("| 12 | 34 |" has spaces). Only that shape:
# a list "202,555,0143,12" or "12:30:45:678" goes on with a separator and a digit and is kept.
PHONE_OTHER_SEPS = ",:~'\u2019|"
PHONE_GROUPED_BODY = "|".join(
    rf"\d{{3}}{re.escape(c)}\d{{3}}{re.escape(c)}\d{{4}}" for c in PHONE_OTHER_SEPS
)
PHONE_GROUPED = re.compile(
    rf"(?<![\w+.{PHONE_OTHER_SEPS}])(?:{PHONE_GROUPED_BODY})(?!\w|[.{PHONE_OTHER_SEPS}]\d)"
)
DECIMAL = re.compile(r"\d+\.\d+")
WS = re.compile(r"[ \t\u00a0]+")

PLACEHOLDERS = ("[handle]", "[email]", "[url]", "[phone]", "[user]")

# HTML character references render as their character: "alice&#64;example.com" is an e-mail,
# "Marisol&nbsp;Quenby" a name, "zorba&shy;tron" a handle; left encoded, no rule saw them (the
# e-mail lost its domain to the URL rule and kept its local part). Decoded once, after the tags
# go (an escaped "&lt;b&gt;" stays text) and before every other rule; only with the ";"
# ("AT&T", "&notit" without it stay as written). The five common ones decode to ASCII and the
# vectorised route does them itself; any other sends its row to the Python route.
CHAR_REF = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
COMMON_CHAR_REFS = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'"}


def _char_ref(m: re.Match[str]) -> str:
    body = m.group(1)
    if body.startswith("#"):
        cp = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
        return chr(cp) if 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else m.group(0)
    return html.entities.html5.get(body + ";", m.group(0))


def decode_char_refs(text: str) -> str:
    """``text`` with its HTML character references decoded (one pass; see :data:`CHAR_REF`),
    then without format characters and NFKC again, as a decoded "&shy;" or "&#xFF41;" asks."""
    out = CHAR_REF.sub(_char_ref, text)
    if out == text:
        return text
    return unicodedata.normalize("NFKC", visible(out))


_DATE_SEP = f"[-./_{PHONE_DASHES}]"
DATE_LIKE = re.compile(
    rf"^\s*(?:\d{{4}}{_DATE_SEP}\d{{1,2}}{_DATE_SEP}\d{{1,2}}|\d{{1,2}}{_DATE_SEP}\d{{1,2}}{_DATE_SEP}\d{{4}})\s*$"
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
    """Scrub one text: markup mentions, e-mails, URLs, handles, phones and known names
    (HTML character references decoded first: :func:`decode_char_refs`).

    The order matters: HTML mention links and e-mails go before bare handles (``@user@host``
    would otherwise leave ``@host``), URLs before phones (digits in paths).
    """
    if text is None:
        return None
    t = unicodedata.normalize("NFKC", visible(text))
    t = HTML_MENTION.sub("[handle]", t)
    t = ANGLE_AT_DOT.sub(r"(\1)", t)
    t = INLINE_JOIN.sub("", t)
    t = HTML_TAG.sub(" ", t)
    if "&" in t:
        t = decode_char_refs(t)
    t = FEDI_HANDLE.sub("[handle]", t)
    t = EMAIL.sub("[email]", t)
    t = OBFUSCATED_EMAIL.sub("[email]", t)
    t = URL.sub("[url]", t)
    t = REDDIT_USER.sub("[handle]", t)
    t = HANDLE.sub("[handle]", t)
    t = PLATFORM_HANDLE.sub(r"\1[handle]", t)
    t = SPACED_AT_HANDLE.sub("[handle]", t)
    t = PHONE_GROUPED.sub("[phone]", t)
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
