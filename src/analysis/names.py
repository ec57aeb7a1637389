"""Names in texts: the forms a handle or display name takes, and the redactor that finds them.

Used by the scrubber (``privacy.scrub_text``, ``analysis.scrub``), by ingest (which names are
ordinary words of a dump) and by the audit:

* text skeletons: NFKC, without format characters, look-alike letters mapped to Latin ones
  (:func:`skeleton`, :func:`fold`);
* the variants of a name (:func:`name_variants`) and the names that are ordinary words of a dump
  (:func:`ordinary_words`);
* :class:`NameRedactor`, which replaces known names by ``[user]`` token by token, and
  :class:`AnchorIndex`, which the audit shares.

``analysis.privacy`` re-exports every name defined here (the interface it always had).
"""

from __future__ import annotations

import bisect
import functools
import gc
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import polars as pl
import regex

from analysis.name_forms import PART_ASCII, SEPARATORS, form_key, name_forms, person_forms
from analysis.sorted_sets import member, sorted_set

#: How :class:`NameRedactor` holds an entry, one string (:func:`encode_entry`): its first
#: token folded, :data:`FIRST_END`, "f" (compared folded) or "c" (in the case written), then
#: the window (:func:`window`). No token (a run of word characters) nor separator (whitespace
#: collapsed to " ", ``_separator``) holds either control character.
FIRST_END = "\x1e"
#: joins the tokens and separators of a name or of a window of text into one string
ENTRY_JOIN = "\x1f"
_FOLDED, _CASED = FIRST_END + "f", FIRST_END + "c"


def window(toks: Sequence[str], seps: Sequence[str]) -> str:
    """Tokens and the separators between them as one string (:data:`ENTRY_JOIN` between them);
    separators past the last token are not read."""
    parts = [toks[0]]
    for sep, tok in zip(seps, toks[1:], strict=False):
        parts += [sep, tok]
    return ENTRY_JOIN.join(parts)


def encode_entry(key: Sequence[str], seps: Sequence[str], case_sensitive: bool) -> str:
    """An entry of :class:`NameRedactor` as the one string it holds (:data:`FIRST_END`)."""
    return key[0].casefold() + (_CASED if case_sensitive else _FOLDED) + window(key, seps)


def decode_entry(value: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(tokens, separators, case-sensitive?) of an entry :func:`encode_entry` wrote."""
    rest = value[value.index(FIRST_END) + 1 :]
    parts = rest[1:].split(ENTRY_JOIN)
    return tuple(parts[0::2]), tuple(parts[1::2]), rest[0] == "c"


#: :meth:`NameRedactor._first_info` of a token no name begins with.
_NO_NAMES: tuple[tuple[int, ...], frozenset[str]] = ((), frozenset())


def strip_invisible(text: str) -> str:
    """Remove every format character (Unicode category Cf) and every other default-ignorable one.

    Joiners, direction marks and invisible operators render as nothing and are used to split a
    name so that filters miss it ("Ne\u200dll Trent"); so do the default-ignorable characters
    of other categories: the combining grapheme joiner (U+034F), variation selectors (U+FE0F),
    Hangul fillers (U+3164).
    """
    # ASCII holds no format character: most texts and names skip the regex
    return text if text.isascii() else FORMAT_CHARS.sub("", text)


# A soft hyphen (U+00AD, a format character) at a line break renders as a hyphen there: it is
# written as one before the format characters go, so that the line-break joining rule
# (:data:`JOINER`: "Mari-\nsol") sees "zorba\u00ad\ntron" as the word it renders; dropped
# first, it left "zorba\ntron" and the handle in the text (red-team probe). Elsewhere it
# renders as nothing and goes with the other format characters. The Rust copy:
# ``SOFT_HYPHEN_BREAK_RS`` (``scrub_patterns.normalised``). ``privacy.scrub_text`` and
# :class:`NameRedactor` read texts so.
SOFT_HYPHEN_BREAK = re.compile("\u00ad(?=[ \t]*(?:\r\n?|\n))")
SOFT_HYPHEN_BREAK_RS = (r"\x{AD}([ \t]*(?:\r\n?|\n))", "-${1}")


def visible(text: str) -> str:
    """``text`` without format characters (``strip_invisible``), a soft hyphen at a line break
    written as the hyphen it renders (:data:`SOFT_HYPHEN_BREAK`)."""
    if "\u00ad" in text:
        text = SOFT_HYPHEN_BREAK.sub("-", text)
    return strip_invisible(text)


#: Every format character (Unicode category Cf) and default-ignorable code point (what renders
#: as nothing), plus the Mongolian vowel separator. The Rust copy: ``INVISIBLE_RS``.
FORMAT_CHARS = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}\u180e]")
INVISIBLE_RS = r"[\p{Cf}\p{Default_Ignorable_Code_Point}\x{180E}]"


def _latin_look_alikes() -> dict[str, str]:
    """One-character Latin look-alikes from Unicode TS #39 ``confusables.txt``.

    The data come from the maintained ``confusable-homoglyphs`` package (Unicode's
    confusables as JSON). Kept: every non-ASCII letter or digit whose prototype is one ASCII
    letter or digit ("Т" Cyrillic -> "T", "ο" Greek -> "o", "Ꭺ" Cherokee -> "A"), so a text keeps
    its offsets. ASCII itself is never remapped, so names and texts in plain Latin compare as
    written. TS #39 writes the prototype of a capital I as "l"; capital look-alikes of I map to
    "I" here instead, because the case-insensitive comparisons fold ASCII "I" to "i".
    """
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        latin = [h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii()]
        latin = [c for c in latin if c.isalnum()]
        if latin:
            table[char] = "I" if latin[0] == "l" and char.isupper() else latin[0]
    # Cyrillic capitals the Unicode data maps to no single letter, seen in crafted dumps
    return {**table, "Һ": "h", "Ԛ": "Q"}


#: Latin look-alikes (see :func:`_latin_look_alikes`): "Т" (Cyrillic) and "T" compare equal.
#: Every entry maps one character to one character, so offsets into a text are kept.
CONFUSABLES = str.maketrans(_latin_look_alikes())


def skeleton(text: str) -> str:
    """NFKC, without format characters, Cyrillic/Greek look-alikes mapped to Latin letters."""
    if text.isascii():  # NFKC, format characters and look-alikes leave ASCII as it is
        return text
    return strip_invisible(unicodedata.normalize("NFKC", text)).translate(CONFUSABLES)


def fold(text: str) -> str:
    """:func:`skeleton`, case-folded: the form names are compared in when case does not matter."""
    return skeleton(text).casefold()


WORD = re.compile(r"[\w][\w'’.\-]*[\w]|[\w]", re.U)


def name_variants(name: str, min_len: int = 3) -> set[str]:
    """The forms under which a handle or display name can appear in text (scrubber and audit agree).

    NFKC-normalised, without zero-width characters or a leading "@"; a fediverse handle
    ``user@instance`` is also known by its local part. Forms shorter than ``min_len`` are
    dropped: too ambiguous to redact and too short to identify anyone.
    """
    if not name.isascii():  # NFKC and format characters leave ASCII as it is
        name = unicodedata.normalize("NFKC", strip_invisible(name))
    name = name.strip().lstrip("@")
    variants = {name, name.split("@")[0].strip()} if name.count("@") == 1 else {name}
    # A "name" without a letter ("...", "7777") cannot be told apart from punctuation or numbers.
    return {v for v in variants if len(v) >= min_len and _has_letter(v)}


def _has_letter(value: str) -> bool:
    """True when ``value`` holds a letter (``str.isalpha``), without a Python loop for ASCII."""
    if value.isascii():  # an ASCII letter is the only ASCII character with two cases
        return value.lower() != value.upper()
    return any(ch.isalpha() for ch in value)


ORDINARY_WORD = r"\b[a-z][a-z'\-]{2,}\b"
_ORDINARY = re.compile(r"[a-z][a-z'\-]{2,}")


def ordinary_words(posts: pl.DataFrame, names: Iterable[str], min_authors: int = 10) -> set[str]:
    """Lower-case one-word names that are ordinary words of this dump.

    A handle or display name such as "answer" or "crash" that at least ``min_authors`` distinct
    authors use as a plain word identifies nobody: redacting it would mangle texts, and finding
    it would make the audit cry wolf. Capitalised and multi-word names never qualify. Usage is
    counted case-insensitively: a handle "google" is an ordinary word where many write "Google"
    (lower-cased topic keywords would otherwise turn the company into the handle).
    """
    candidates = ordinary_candidates(names)
    if not candidates or posts.height == 0:
        return set()
    return common_words(word_authors(posts, candidates), min_authors)


def ordinary_candidates(names: Iterable[str]) -> list[str]:
    """The names that may be ordinary words: lower-case, one word, of the word pattern's letters
    (no other name can equal a word that :data:`ORDINARY_WORD` finds)."""
    return sorted(
        {n for n in names if n and n.islower() and WORD.fullmatch(n) and _ORDINARY.fullmatch(n)}
    )


#: Characters of each pattern an Aho-Corasick prefilter keeps (:func:`prefixes`).
PREFIX_CHARS = 4


def prefixes(patterns: list[str], chars: int = PREFIX_CHARS) -> list[str]:
    """The distinct first ``chars`` characters of ``patterns``, for ``str.contains_any``.

    A text holding a pattern holds its prefix, so the prefilter passes every text it passed
    before (and perhaps a few more, which the exact matching then clears). Polars builds the
    automaton on every call, in time that grows faster than the number of patterns when they
    share prefixes: 200,000 handles "user_N" took 14 s a call (50,000: 0.9 s), once per batch
    of texts; their prefixes are one pattern.
    """
    return sorted({p[:chars] for p in patterns if p})


class Candidates:
    """A run's candidate words made ready for :func:`word_authors` once: the prefilter's
    prefixes and the sorted set the words are looked up in. Ingest's streaming engine counts
    its texts a batch at a time: made again for every batch, and looked up by ``is_in`` (which
    hashes the whole set on every call), they cost a little more each batch as the accounts
    grow, and the build grew with the square of the dump (``analysis.sorted_sets``)."""

    def __init__(self, candidates: Iterable[str]) -> None:
        self.words = sorted_set(candidates)
        self.prefixes = prefixes(self.words.to_list())

    def __bool__(self) -> bool:
        return self.words.len() > 0


def word_authors(posts: pl.DataFrame, candidates: Sequence[str] | Candidates) -> pl.DataFrame:
    """Distinct (``w``, ``account_id``) pairs: which author wrote which candidate word.

    Over any part of the posts: the pairs of the parts, made distinct, are those of the whole
    (ingest's streaming engine counts them batch by batch). ``candidates``: the words, or them
    made ready once (:class:`Candidates`) for many parts.
    """
    ready = candidates if isinstance(candidates, Candidates) else Candidates(candidates)
    if not ready:
        return pl.DataFrame(schema={"account_id": pl.String, "w": pl.String})
    return (
        posts.lazy()
        .select("account_id", pl.col("text").str.to_lowercase())
        # a text without any candidate's prefix as a substring holds none as a word (Aho-Corasick)
        .filter(pl.col("text").str.contains_any(ready.prefixes))
        .select("account_id", pl.col("text").str.extract_all(ORDINARY_WORD).alias("w"))
        .explode("w")
        # filtered in the query, not after it: every word of every text collected first held
        # ~3x the memory (1M texts of 15 words: +1.2 GiB against +0.4). The texts' count
        # stands for the words' (a text holds a few): the set is searched where it outgrows
        # the texts (a batch of the streaming engine), hashed elsewhere
        .filter(member(pl.col("w"), ready.words, posts.height))
        .unique()
        .collect()
    )


def common_words(pairs: pl.DataFrame, min_authors: int = 10) -> set[str]:
    """Words of :func:`word_authors` pairs written by at least ``min_authors`` authors."""
    used = author_counts(pairs).filter(pl.col("n_authors") >= min_authors)
    return set(used["w"].to_list())


def author_counts(pairs: pl.DataFrame, by: Sequence[str] = ("w",)) -> pl.DataFrame:
    """How many distinct authors wrote each word: ``by`` and ``n_authors``, of rows holding
    ``by`` and ``account_id`` (:func:`word_authors`' pairs, or a topic's words with
    ``by=("topic_id", "w")``, ``topics_keywords``). Rows may repeat (the parts of a dump
    counted apart, then put together)."""
    return pairs.select(*by, "account_id").unique().group_by(*by).agg(n_authors=pl.len())


# A Reddit user: "u/name", "/u/name", "/user/name" (the profile's long path), and the
# subreddit of a user's profile, "u_name" (also "r/u_name"), which a dump's labels and texts
# carry; 3+ characters after "u_" (Reddit's shortest user name), so that "u_n" and "u_0" of
# formulas stay. The scrubber replaces it
# (``privacy.scrub_text``); a label holding one is a mention (:meth:`NameRedactor.mentions`).
#: A character of a Reddit name: Markdown's escaped underscore "\\_" is one ("u/some\\_user"
#: renders "u/some_user"; the match stopped at the backslash and left "\\_user" in the text).
REDDIT_NAME_CHAR = r"(?:[A-Za-z0-9_-]|\\_)"
REDDIT_USER = re.compile(
    rf"(?<![\w/])(?:/?u/{REDDIT_NAME_CHAR}{{2,}}|/user/{REDDIT_NAME_CHAR}{{3,}}"
    rf"|(?:/?r/)?u\\?_{REDDIT_NAME_CHAR}{{3,}})",
    re.U,
)


#: a name or a text as a sequence of tokens: runs of word characters (letters, digits, "_")
TOKEN = re.compile(r"\w+", re.U)
_SPACES = re.compile(r"\s+", re.U)
#: Markdown emphasis around or inside a name ("**Marisol** Quenby", "~~Ada~~ Quill", "`ada`
#: quill"): no part of a separator as names are compared (Reddit and Mastodon bodies are
#: Markdown; the red-team review found the name kept). ``scrub_names`` drops the same.
EMPHASIS = "*~`"
_NO_EMPHASIS = str.maketrans("", "", EMPHASIS)
#: The generic combining diacritics (their own Unicode blocks, used with any script), which NFKC
#: leaves where no precomposed letter exists: an overlay (U+0336) or an accent on a letter that
#: takes none splits a name into two runs of ``\w`` ("Ed\u0336win"). The redactor compares
#: names without them; script-specific marks (Devanagari vowel signs...) are letters of a word.
MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARK = re.compile(f"[{MARKS}]+")
#: a token of a name or text as the redactor compares it: word characters and marks among them
NAME_TOKEN = re.compile(f"\\w[\\w{MARKS}]*", re.U)
_NAME_TOKEN_SPLIT = re.compile(f"(\\w[\\w{MARKS}]*)", re.U)


#: a separator that joins two runs of word characters into one word as a reader sees it:
#: Markdown emphasis inside a word ("**Ali**ce" renders "Alice", "Mari~~sol~~") or a hyphen at a
#: line break ("Mari-\nsol", hard-wrapped text). The redactor also compares a text's words
#: joined across these (:meth:`NameRedactor._spans`), beside its tokens as written ("**Ali**ce"
#: holds the handle "ali" too); the text itself is not rewritten, since "well-\nknown" keeps
#: its hyphen and "a*b" its star.
#: A backslash before "_" joins too (``_spans`` tests it: the "_" is the next token's first
#: character): Markdown's escaped underscore ("some\\_user" renders "some_user"; Reddit's
#: rich-text editor writes every "_" of a handle so) made the handle three tokens, "some",
#: "_user" (the red-team review: kept).
JOINER = re.compile(r"[*~`]+|-[ \t]*(?:\r\n?|\n)[ \t]*")
#: Markdown's underscore emphasis ("_Marisol Quenby_", "__zorbatron__") is glued to the name:
#: "_" is a word character, so "_Marisol" was the token and the name was kept (red-team
#: review). The redactor also compares tokens without the underscores at their edges
#: (:meth:`NameRedactor._spans`), "_" being no part of a separator then.
EDGE_UNDERSCORE = r"(?:^|[^\w])_+[^\W_]|[^\W_]_+(?:[^\w]|$)"
#: two runs of word characters a :data:`JOINER` (or an escaped underscore) joins into one word
JOINS = f"[\\w{MARKS}](?:(?:[*~`]+|-[ \\t]*(?:\\r\\n?|\\n)[ \\t]*)\\w|\\\\_)"
#: a text in which :data:`JOINER` may join two tokens (:data:`JOINS`) or a token has an
#: underscore at an edge (:data:`EDGE_UNDERSCORE`), in the syntax of both engines: the
#: vectorised route leaves the first to the Python route and matches the second itself
#: (``scrub_names``: a second pass over the tokens without their edge underscores)
JOINED_WORD = f"{JOINS}|{EDGE_UNDERSCORE}"
_JOINED_WORD = re.compile(JOINED_WORD)


def _unmarked(value: str) -> str:
    """``value`` without generic combining marks (:data:`MARKS`)."""
    return value if value.isascii() else _MARK.sub("", value)


def _tokens(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tokens of a (skeleton) name and the separators between them, whitespace collapsed,
    without generic combining marks."""
    # split on tokens: [before, token, separator, token, ..., token, after]
    parts = _NAME_TOKEN_SPLIT.split(value)
    seps = tuple(map(_separator, parts[2:-1:2]))
    if value.isascii():  # no marks to drop (half the build time of 100k names went there)
        return tuple(parts[1::2]), seps
    return tuple(_unmarked(t) for t in parts[1::2]), seps


#: Typographic apostrophes and dashes, compared as the ASCII ones: keyboards and phones write
#: "O’Brien" for a display name "O'Brien" and "Jean‐Luc" (U+2010, also NFKC of the
#: non-breaking hyphen) or "Jean–Luc" for "Jean-Luc"; the separators differed and the name was
#: kept (red-team review). One character for one; ``scrub_names`` maps the same.
APOSTROPHES = "\u2018\u2019\u2032"
DASHES = "\u2010\u2012\u2013\u2014\u2015\u2043\u2212"
_SEPARATOR_MAP = {
    **_NO_EMPHASIS,
    **str.maketrans({**dict.fromkeys(APOSTROPHES, "'"), **dict.fromkeys(DASHES, "-")}),
    # a "_" is never between two tokens as written; between tokens without their edge
    # underscores ("__Marisol__ Quenby") it is emphasis (:data:`EDGE_UNDERSCORE`)
    ord("_"): None,
}


def _separator(value: str) -> str:
    """A separator as names are compared: without marks or Markdown emphasis
    (:data:`EMPHASIS`), typographic apostrophes and dashes as ASCII ones
    (:data:`APOSTROPHES`, :data:`DASHES`), any whitespace one space."""
    return value if value == " " else _SPACES.sub(" ", _unmarked(value).translate(_SEPARATOR_MAP))


#: Pauses of the cyclic collector in progress (any thread), and whether it ran before the
#: first of them: :func:`without_cyclic_gc`.
_GC_PAUSE = {"depth": 0, "was_enabled": False}
_GC_LOCK = threading.Lock()


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic collector paused (reference counting still frees everything).

    A redactor of 100k names is some 2M tuples and strings in no reference cycle; the collector
    went over all of them again each time it ran (9 full passes during the build): 2.0 s of
    build took 1.2 s without it (1M synthetic posts, session 41), and the pauses also stalled
    the whole-table checks running beside it. The collector is process-wide: pauses that
    overlap (two threads, a build left running by a failed ingest) are counted, and the last
    one to end sets it back as it was before the first began."""
    with _GC_LOCK:
        if _GC_PAUSE["depth"] == 0:
            _GC_PAUSE["was_enabled"] = gc.isenabled()
            gc.disable()
        _GC_PAUSE["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSE["depth"] -= 1
            if _GC_PAUSE["depth"] == 0 and _GC_PAUSE["was_enabled"]:
                gc.enable()


class NameRedactor:
    """Replaces known handles and display names in texts by ``[user]``, as token sequences.

    A text and every name are compared after :func:`skeleton` (NFKC, no format characters,
    Cyrillic/Greek look-alikes as Latin letters) and split into tokens (runs of word
    characters). A name matches a run of whole tokens with the same separators between them
    (any whitespace counts as one space, Markdown emphasis marks not at all), so affixes and
    possessives do not hide it ("nell's", "nell-style", "nell.xyz", "nell-fanclub" all lose
    "nell"), whatever the case of a multi-word name ("thanks nell trent", "EDWIN DROOD").
    Single-token names in lower case (typically handles) match in any case; capitalised single
    words stay case-sensitive ("Mark" is not "mark"). A name of several parts is also found
    joined or re-separated (``analysis.name_forms``: "Ada.Quill", "AdaQuill", "quill ada7"), in
    any case, and a display name as a person is cited ("Quill, Ada", "A. Quill", "Ada Quills"),
    in the case written, unless that form is in ``ordinary``. Names shorter than ``min_len``
    characters are skipped: too ambiguous to redact and too short to identify anyone. Matching
    looks each token of the text up among the names' first tokens, and a window of tokens that
    may be a name among the entries, by binary search in one sorted list of strings.
    """

    def __init__(
        self, names: Iterable[str | None], min_len: int = 3, ordinary: Iterable[str] = ()
    ) -> None:
        skip = set(ordinary)
        skip_folded = {w.casefold() for w in skip}  # a form is matched in any case
        self.min_len = min_len
        #: every entry as one string (:func:`encode_entry`), sorted and distinct: the matcher
        #: looks an entry up, and the entries that begin with a token, by binary search
        #: (:meth:`_has`, :meth:`_first_info`). Held as tuples in a set and, per first token,
        #: in lists of a dict, the 600k entries of a 1M-post dump's 50k accounts were 132 MiB
        #: of Python objects; one string each in one list, 48 MiB (session 63: the 10M
        #: streaming ingest's sink -0.7 GiB). A text is matched in 1.03-1.6x the time of the
        #: set's look-ups (20k texts, three runs on a shared host): the Python route is the
        #: few texts the vectorised one leaves to it (``scrub_patterns.needs_python``).
        self.encoded: list[str] = []
        seen: set[str] = set()
        with without_cyclic_gc():
            self._build(names, skip, skip_folded, seen)
            self._freeze(seen)
        #: per folded first token met in a text: the widths of its names (longest first) and
        #: the folded second tokens of its names of several tokens; filled as tokens are met
        #: (built for every name up front it was a third of the build: 1.6 s for 100k names)
        self._firsts: dict[str, tuple[tuple[int, ...], frozenset[str]]] = {}

    def _freeze(self, seen: set[str]) -> None:
        """Keep the entries ``seen`` (the build's) as :attr:`encoded`: sorted, as Python
        compares strings (by code point, what :mod:`bisect` reads)."""
        self.encoded = sorted(seen)

    def _build(
        self,
        names: Iterable[str | None],
        skip: set[str],
        skip_folded: set[str],
        seen: set[str],
    ) -> None:
        """Add every entry of every name to ``seen``."""
        for name in names:
            if not name:
                continue
            variants = name_variants(name, self.min_len)
            for v in variants - skip:
                self._add(v, False, seen)
            # the name joined and re-separated ("AdaQuill", "quill ada7"), in any case, as
            # a name of several words is; a form that is an ordinary word of the dump is not
            for v in variants:
                # as a person is cited ("Quenby, Marisol", "M. Quenby", "Marisol Quenbys"),
                # in the case written: "the onions" is no genitive of a user "The Onion"
                for f in person_forms(v):
                    if form_key(f) not in skip_folded:
                        self._add(f, True, seen, cased=True)
                if v.isascii():
                    self._add_ascii_forms(v, skip_folded, seen)
                    continue
                for f in name_forms(v):
                    if form_key(f) not in skip_folded:
                        self._add(f, True, seen)

    def _add(self, v: str, form: bool, seen: set[str], cased: bool = False) -> None:
        """Add the name ``v``; a ``form`` (joined or re-separated) is matched in any case, a
        ``cased`` one (``name_forms.person_forms``) only in the case written."""
        toks, seps = _tokens(skeleton(v))
        joined = "".join(toks)
        if len(joined) < self.min_len or not _has_letter(joined):
            return
        case_sensitive = cased or (not form and len(toks) == 1 and not v.islower())
        key = toks if case_sensitive else tuple(t.casefold() for t in toks)
        seen.add(encode_entry(key, seps, case_sensitive))

    def _add_ascii_forms(self, v: str, skip: set[str], seen: set[str]) -> None:
        """What ``_add(f, True)`` does for each form ``f`` of ``name_forms(v)`` whose
        ``form_key`` is not in ``skip``, for an ASCII ``v``, without a regex per form.

        In ASCII a form's skeleton is the form, its tokens are the name's parts (separated by
        " ", "." or "-") or one token (joined by "_", a word character, or by nothing), and
        case-folding is lower-casing; the build of 100k names took 2.6 s, 1.5 s of it here.
        ``tests/unit/test_name_forms.py`` checks it against the general path.
        """
        parts = PART_ASCII.findall(v)
        if len(parts) < 2:
            return
        low = [p.lower() for p in parts]
        spaced, joined = " ".join(low), "".join(low)
        if not _has_letter(joined):
            return
        for sep in SEPARATORS:
            form = sep.join(parts)
            if form == v or (joined if sep == "" else spaced) in skip:
                continue
            # :func:`encode_entry` of the form, spelt out (its first token is already folded)
            if sep in ("", "_"):
                one = sep.join(low)
                if len(one) >= self.min_len:
                    seen.add(f"{one}{_FOLDED}{one}")
            elif len(joined) >= self.min_len:
                seen.add(low[0] + _FOLDED + f"{ENTRY_JOIN}{sep}{ENTRY_JOIN}".join(low))

    def entries(self) -> set[tuple[tuple[str, ...], tuple[str, ...], bool]]:
        """Every entry as (tokens to compare, separators, case-sensitive?), decoded."""
        return {decode_entry(e) for e in self.encoded}

    def buckets(self) -> dict[str, set[tuple[tuple[str, ...], tuple[str, ...], bool]]]:
        """The entries per folded first token (what :meth:`_first_info` reads), decoded."""
        out: dict[str, set[tuple[tuple[str, ...], tuple[str, ...], bool]]] = {}
        for e in self.encoded:
            out.setdefault(e[: e.index(FIRST_END)], set()).add(decode_entry(e))
        return out

    def _has(self, first: str, marker: str, toks: list[str], seps: list[str]) -> bool:
        """True when the window ``toks`` (separated by ``seps``) is an entry of the folded
        first token ``first``, case-sensitive or not as ``marker`` says."""
        value = first + marker + (toks[0] if len(toks) == 1 else window(toks, seps))
        at = bisect.bisect_left(self.encoded, value)
        return at < len(self.encoded) and self.encoded[at] == value

    def __bool__(self) -> bool:
        return bool(self.encoded)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every known name in ``text`` (a skeleton text), left to right: in
        its tokens as written and in its words joined across a :data:`JOINER` (overlapping
        spans of the two merged into one)."""
        found = list(NAME_TOKEN.finditer(text))
        # tokens as compared (without generic marks), and where each is in the text
        words = [_unmarked(m.group(0)) for m in found] if not text.isascii() else None
        toks = [m.group(0) for m in found] if words is None else words
        starts = [m.start() for m in found]
        ends = [m.end() for m in found]
        out = self._match(text, toks, starts, ends)
        if not _JOINED_WORD.search(text):
            return out
        # the tokens without underscores at their edges (Markdown's "_name_", "__name__")
        st: list[str] = []
        ss: list[int] = []
        se: list[int] = []
        for m in found:
            g = m.group(0)
            lead, trail = len(g) - len(g.lstrip("_")), len(g) - len(g.rstrip("_"))
            if lead < len(g):
                st.append(_unmarked(g[lead : len(g) - trail]))
                ss.append(m.start() + lead)
                se.append(m.end() - trail)
        if st != toks:
            out += self._match(text, st, ss, se)
        jt, js, je = [toks[0]], [starts[0]], [ends[0]]
        for t, a, b in zip(toks[1:], starts[1:], ends[1:], strict=True):
            # an escaped underscore joins when the underscore is the next token's first letter
            if JOINER.fullmatch(text, je[-1], a) or (text[je[-1] : a] == "\\" and t[0] == "_"):
                jt[-1] += t
                je[-1] = b
            else:
                jt.append(t)
                js.append(a)
                je.append(b)
        merged: list[tuple[int, int]] = []
        for a, b in sorted(out + self._match(text, jt, js, je)):
            if merged and a < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def _first_info(self, first: str) -> tuple[tuple[int, ...], frozenset[str]]:
        """The widths (longest first) and folded second tokens of the names that begin with
        the folded token ``first``; computed once per token (a dict write: safe across the
        scrubbing threads, at worst computed twice)."""
        info = self._firsts.get(first)
        if info is None:
            enc = self.encoded
            lo = bisect.bisect_left(enc, first + FIRST_END)
            hi = bisect.bisect_left(enc, first + ENTRY_JOIN, lo)
            if lo == hi:  # no name begins so: nothing kept (texts have many such tokens)
                return _NO_NAMES
            widths: set[int] = set()
            seconds: set[str] = set()
            for e in enc[lo:hi]:
                parts = e[len(first) + len(_FOLDED) :].split(ENTRY_JOIN)
                widths.add((len(parts) + 1) // 2)
                if len(parts) > 1:
                    seconds.add(parts[2].casefold())
            info = (tuple(sorted(widths, reverse=True)), frozenset(seconds))
            self._firsts[first] = info
        return info

    def _match(
        self, text: str, toks: list[str], starts: list[int], ends: list[int]
    ) -> list[tuple[int, int]]:
        """(start, end) of every known name among the tokens ``toks`` of ``text`` (each from
        ``starts[i]`` to ``ends[i]``), left to right, the longest at each token."""
        out: list[tuple[int, int]] = []
        n = len(toks)
        i = 0
        while i < n:
            first = toks[i].casefold()
            widths, seconds = self._first_info(first)
            if widths and widths[0] > 1 and (i + 1 == n or toks[i + 1].casefold() not in seconds):
                widths = widths[-1:] if widths[-1] == 1 else ()
            width = 0
            raw, low, seps = [toks[i]], [first], []  # the window, grown as the widths ask
            for w in widths:  # longest first
                if i + w > n:
                    continue
                while len(raw) < w:
                    j = i + len(raw)
                    seps.append(_separator(text[ends[j - 1] : starts[j]]))
                    raw.append(toks[j])
                    low.append(toks[j].casefold())
                if self._has(first, _FOLDED, low[:w], seps) or self._has(
                    first, _CASED, raw[:w], seps
                ):
                    width = w
                    break
            if width:
                out.append((starts[i], ends[i + width - 1]))
                i += width
            else:
                i += 1
        return out

    def is_name(self, value: str) -> bool:
        """True when ``value`` as a whole is a known name (used to drop labels equal to a handle)."""
        sk = skeleton(value).strip().lstrip("@")
        spans = self._spans(sk)
        return len(spans) == 1 and spans[0] == (0, len(sk))

    def mentions(self, value: str) -> bool:
        """True when ``value`` holds a known name anywhere (a label "alt.rush-fans" names "rush")
        or a Reddit user (:data:`REDDIT_USER`: the label "u_alice" of a profile post)."""
        value = strip_invisible(unicodedata.normalize("NFKC", visible(value)))
        return bool(REDDIT_USER.search(value) or self._spans(value.translate(CONFUSABLES)))

    def redact(self, text: str) -> str:
        """Redact every known name in ``text`` (NFKC-normalised, without format characters).

        Names are found in the text's skeleton and cut from the text itself: look-alike letters
        are compared as Latin, but a Cyrillic or Greek text is not rewritten.
        """
        text = strip_invisible(unicodedata.normalize("NFKC", visible(text)))
        spans = self._spans(text.translate(CONFUSABLES))  # one character for one: same offsets
        if not spans:
            return text
        parts, last = [], 0
        for a, b in spans:
            parts += [text[last:a], "[user]"]
            last = b
        return "".join(parts) + text[last:]


#: a run of word characters (what ``(?<!\w)`` / ``(?!\w)`` treat as glue)
RUN = re.compile(r"\w+", re.U)


T = TypeVar("T")


class AnchorIndex(Generic[T]):
    """Values of several tokens, indexed by their longest run of word characters.

    A whole-word occurrence of a value (its ends not glued to word characters) contains that run
    as a whole run of the text, so a text need only be checked against the values whose run it
    holds: linear in the text instead of in the number of values (one big alternation over tens
    of thousands of names took minutes on the shared dumps). Shared by the name redactor and
    the audit.
    """

    def __init__(self, items: Iterable[T], key: Callable[[T], str]) -> None:
        self.items = list(items)
        self.by_run: dict[str, list[T]] = {}
        self.always: list[T] = []  # values without any word character
        for item in self.items:
            runs = RUN.findall(key(item))
            if runs:
                self.by_run.setdefault(max(runs, key=len), []).append(item)
            else:
                self.always.append(item)

    def __bool__(self) -> bool:
        return bool(self.items)

    def candidates(self, text: str) -> list[T]:
        """The values that can occur in ``text`` as whole words."""
        return [c for run in set(RUN.findall(text)) for c in self.by_run.get(run, ())] + self.always


@functools.lru_cache(maxsize=4096)
def _alternation(names: frozenset[str]) -> re.Pattern[str]:
    """Whole-word alternation of ``names``, longest first, any whitespace between words."""
    return re.compile(
        r"(?<!\w)(?:"
        + "|".join(
            r"\s+".join(map(re.escape, n.split()))
            for n in sorted(names, key=lambda n: (-len(n), n))
        )
        + r")(?!\w)"
    )
