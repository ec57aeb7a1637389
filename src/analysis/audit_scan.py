"""The audit's matching code: raw identifiers found in output texts (``analysis.audit``).

Deliberately different from the scrubber's: strings are normalised by polars expressions and
identifiers found by multi-pattern substring search, then checked for word boundaries (see
the section comment below). Reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import polars as pl

from analysis.privacy import CONFUSABLES, PHONE_DASHES, WORD, AnchorIndex

if TYPE_CHECKING:
    from analysis.audit import Identifiers

MIN_ID_SUBSTRING = 6
MIN_NAME = 3

# ----------------------------------------------------------------------------- normalisation
# The audit's own matching code, deliberately different from the scrubber's (which compares
# token sequences in Python, ``privacy.NameRedactor``): here every string is normalised by polars
# expressions (Rust), and identifiers are found by multi-pattern substring search (Aho-Corasick,
# ``str.extract_many``), then checked for word boundaries. A blind spot of one is caught by the
# other. Only the tables of look-alike letters and of typographic dashes are shared (data, not
# matching code).

_CONFUSABLE_FROM = [chr(k) for k in CONFUSABLES]
_CONFUSABLE_TO = [str(v) for v in CONFUSABLES.values()]
#: e-mails (also "user @ example.org") and phone-shaped digit runs, in Rust regex syntax
_EMAIL_RS = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
#: the generic combining diacritics (their own Unicode blocks, used with any script)
_OVERLAY_MARKS = (
    r"[\x{300}-\x{36F}\x{1AB0}-\x{1AFF}\x{1DC0}-\x{1DFF}\x{20D0}-\x{20FF}\x{FE20}-\x{FE2F}]"
)
_PHONE_RS = rf"(?:^|[^\w+.])[+(]?\d(?:[\s.()/_\-{PHONE_DASHES}]{{0,3}}\d)+"


def visible(col: pl.Expr) -> pl.Expr:
    """NFKC, without what renders as nothing (format characters: zero-width joiners, direction
    marks...; other default-ignorable characters: variation selectors, Hangul fillers...) and
    without the combining marks that overlay any letter (U+0336 in "Ed\u0336win")."""
    return (
        col.str.normalize("NFKC")
        .str.replace_all(r"[\p{Cf}\p{Default_Ignorable_Code_Point}\x{180E}]", "")
        .str.replace_all(_OVERLAY_MARKS, "")
    )


def normalised(col: pl.Expr, fold_case: bool) -> pl.Expr:
    """:func:`visible`, look-alikes as Latin, the percent-encoded "@", "." and "+" of an e-mail
    decoded ("jane.roe%40gmail%2Ecom", as the scrubber reads it: ``privacy.EMAIL_AT``), one
    space for any whitespace, no space around "@"; lower-cased when ``fold_case``."""
    e = (
        visible(col)
        .str.replace_many(_CONFUSABLE_FROM, _CONFUSABLE_TO)
        .str.replace_all(r"%40", "@", literal=True)
        .str.replace_all(r"(?i)%2e", ".")
        .str.replace_all(r"(?i)%2b", "+")
        .str.replace_all(r"\s+", " ")
        .str.replace_all(r" ?@ ?", "@")
    )
    return e.str.to_lowercase() if fold_case else e


def raw_emails(texts: pl.Series) -> set[str]:
    """E-mail addresses in raw texts (lower case, spaces around "@" removed)."""
    found = (
        pl.DataFrame({"t": texts})
        .select(normalised(pl.col("t"), True).str.extract_all(_EMAIL_RS).alias("e"))
        .explode("e")["e"]
        .drop_nulls()
    )
    return set(found.to_list())


def phone_runs(col: pl.Expr) -> pl.Expr:
    """Digits of every phone-shaped run of a normalised text, joined by "|".

    A run is digits separated by at most three of `` .()/_-`` (or a typographic dash or dot,
    ``privacy.PHONE_DASHES``) at a time and not glued to a
    word or a decimal point before it, so ASCII art, ".616 .638" batting averages and two
    numbers of a sentence far apart do not join into one.
    """
    return (
        col.str.extract_all(_PHONE_RS)
        .list.eval(pl.element().str.replace_all(r"\D", ""))
        .list.join("|")
    )


def raw_phones(texts: pl.Series) -> set[str]:
    """Digits of phone-shaped numbers in raw texts: 10-15 digits in at least three groups.

    Dates, years and version numbers have fewer digits or groups; what is left is compared as
    digits only, so "202_555_0143" in an output is "2025550143" like "+1 (202) 555-0143".
    """
    found = (
        pl.DataFrame({"t": texts})
        .select(visible(pl.col("t")).str.extract_all(_PHONE_RS).alias("p"))
        .explode("p")
        .drop_nulls()
        .select(
            pl.col("p").str.replace_all(r"\D", "").alias("digits"),
            pl.col("p").str.count_matches(r"\d+").alias("groups"),
        )
        .filter(
            pl.col("digits").str.len_chars().is_between(10, 15)
            & (pl.col("groups") >= 3)
            & (pl.col("digits").str.replace_all(r"[01]", "").str.len_chars() >= 3)
        )
    )
    digits = set(found["digits"].to_list())
    # the national number without its country code ("+1 202 555 0143" -> "2025550143")
    return digits | {d[-10:] for d in digits if len(d) > 10}


class Scanner:
    """Fast matchers for one set of identifiers.

    Raw ids: word-like ids are looked up per token in a set, others (URL-shaped ids) found by
    substring search in texts holding their anchor run. Names, e-mails and phones: normalised
    substring search (see :func:`normalised`): lower-case names, multi-word names and e-mails in
    any case, capitalised one-word names in their case (as the scrubber redacts them).
    """

    def __init__(self, ident: Identifiers) -> None:
        self.ident = ident
        self.word_ids = {
            i
            for i in ident.ids
            if len(i) >= MIN_ID_SUBSTRING and WORD.fullmatch(i) and i not in ident.common_ids
        }
        self.other_ids = [
            i for i in ident.ids if len(i) >= MIN_ID_SUBSTRING and not WORD.fullmatch(i)
        ]
        self.other: AnchorIndex[tuple[str, str]] = AnchorIndex(
            [("id", i) for i in self.other_ids], key=lambda kv: kv[1]
        )
        names = [(n, k) for n, k in ident.names.items() if k != "phone"]
        frame = pl.DataFrame(
            {"v": [n for n, _ in names], "k": [k for _, k in names]},
            schema={"v": pl.String, "k": pl.String},
        ).with_columns(
            normalised(pl.col("v"), False).alias("cased"),
            normalised(pl.col("v"), True).alias("folded"),
        )
        # As the scrubber decides what is a name (it must, or one would flag what the other
        # rightly leaves): at least MIN_NAME word characters, one of them a letter; a one-token
        # name with a capital keeps its case ("Mark" is not "mark"), other names match in any case.
        n_word_chars = pl.col("cased").str.count_matches(r"\w")
        frame = frame.filter(
            (pl.col("k") == "email")
            | ((n_word_chars >= MIN_NAME) & pl.col("cased").str.contains(r"\p{L}"))
        )
        one_token = pl.col("cased").str.count_matches(r"\w+") == 1
        has_capital = pl.col("v") != pl.col("v").str.to_lowercase()
        cs = pl.col("k").ne("email") & one_token & has_capital
        self.cased: dict[str, tuple[str, str]] = {
            r["cased"]: (r["k"], r["v"]) for r in frame.filter(cs).iter_rows(named=True)
        }
        self.folded: dict[str, tuple[str, str]] = {
            r["folded"]: (r["k"], r["v"]) for r in frame.filter(~cs).iter_rows(named=True)
        }
        self.phones = {n for n, k in ident.names.items() if k == "phone"}

    def scan_many(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        """(kind, value) of every identifier in each of ``texts``: ids first, then names."""
        out: list[list[tuple[str, str]]] = [[] for _ in texts]
        if not texts:
            return out
        for i, text in enumerate(texts):
            out[i] += [
                (k, v) for k, v in self.other.candidates(text) if v in text and _bounded(text, v)
            ]
            out[i] += [
                ("id", m.group(0)) for m in WORD.finditer(text) if m.group(0) in self.word_ids
            ]
        df = pl.DataFrame({"t": texts}, schema={"t": pl.String}).with_row_index("i")
        searches = [
            (normalised(pl.col("t"), False), self.cased),
            (normalised(pl.col("t"), True), self.folded),
        ]
        if self.phones:
            digits = phone_runs(visible(pl.col("t")))
            searches.append((digits, {p: ("phone", p) for p in self.phones}))
        for expr, patterns in searches:
            if not patterns:
                continue
            hits = (
                df.select(
                    "i",
                    expr.alias("n"),
                    expr.str.extract_many(list(patterns), overlapping=True).alias("m"),
                )
                .filter(pl.col("m").list.len() > 0)
                .iter_rows()
            )
            for i, norm, matched in hits:
                for pat in dict.fromkeys(matched):
                    kind, value = patterns[pat]
                    if (_digits_bounded if kind == "phone" else _bounded)(norm, pat):
                        out[i].append((kind, value))
        return out

    def scan_text(self, text: str) -> Iterator[tuple[str, str]]:
        """(kind, value) of every identifier in one free text."""
        yield from self.scan_many([text])[0]


def _digits_bounded(text: str, digits: str) -> bool:
    """True if ``digits`` occurs in ``text`` not glued to other digits."""
    start = text.find(digits)
    while start != -1:
        end = start + len(digits)
        if (not start or not text[start - 1].isdigit()) and (
            end >= len(text) or not text[end].isdigit()
        ):
            return True
        start = text.find(digits, start + 1)
    return False


def _glued(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _bounded(text: str, value: str) -> bool:
    """True if ``value`` occurs in ``text`` not glued to other word characters.

    ``u_`` before it does not glue: "u_alice" is the subreddit of alice's Reddit profile.
    """
    start = text.find(value)
    while start != -1:
        end = start + len(value)
        before = text[start - 1] if start else " "
        if text[max(start - 2, 0) : start].lower() == "u_" and (
            start < 3 or not _glued(text[start - 3])
        ):
            before = " "
        after = text[end] if end < len(text) else " "
        if not _glued(before) and not _glued(after):
            return True
        start = text.find(value, start + 1)
    return False
