"""``resonance audit``: scan every pipeline output for raw identifiers of the current input.

What counts as a raw identifier: every raw account id, handle and display name of every
configured dump (participants or not, removed or not), the e-mail addresses found in raw texts,
and URLs that contain a handle. What is scanned: every file under ``data/interim``,
``data/processed``, ``data/cache``, ``reports`` and ``logs`` (Parquet cell by cell, every
other file as text). Inputs (``data/raw`` and the dumps) are not outputs and are not scanned.

Matching rules, chosen so that a hit is a real leak and not a coincidence:

* in identifier columns (Parquet columns named ``*_id`` or ``record_key``) any raw id is a hit
  when it equals a cell exactly, however short;
* everywhere else (free text, JSON, HTML, logs), ids of 6+ characters are matched as
  substrings on token boundaries, and handles and display names of 3+ characters as
  case-sensitive whole words (the same rule the ingest scrubber redacts by); shorter ones cannot
  be told apart from ordinary numbers and words;
* the inlined plotly.js library in HTML reports is skipped (it is third-party code, not data).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analysis.privacy import (
    CONFUSABLES,
    TOKEN,
    WORD,
    AnchorIndex,
    fold,
    name_variants,
    ordinary_words,
)

SCANNED_DIRS = ("data/interim", "data/processed", "data/cache", "reports", "logs")
#: committed sources under the scanned folders, not outputs (the DVC plots page template)
NOT_OUTPUTS = ("reports/templates",)
MIN_ID_SUBSTRING = 6
MIN_NAME = 3
PLOTLY_BUNDLE = re.compile(
    r"<script[^>]*>\s*/\*\*?\s*\n?\s*\*?\s*plotly\.js.*?</script>", re.S | re.I
)


#: Structure the software writes, not data: the audit reads past it (a handle "img", "nav" or
#: "ari" is not leaked by an <img> tag, a CSS class or a metric named "ari"). Tag and attribute
#: names go, the values of attributes that can carry data stay; JSON keys go, values stay.
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
DATA_ATTRIBUTE = re.compile(
    r"""\b(?:title|alt|aria-label|data-[\w-]+|value|content)\s*=\s*("[^"]*"|'[^']*')""", re.I
)
STYLE = re.compile(r"<style[^>]*>.*?</style>", re.S | re.I)
JSON_KEY = re.compile(r'"(?:[^"\\\n]|\\.)*"(?=\s*:)')


def _markup_to_data(text: str) -> str:
    """An HTML page with tag and attribute names and JSON keys removed (line numbers kept)."""

    def tag(m: re.Match[str]) -> str:
        values = " ".join(v.group(1)[1:-1] for v in DATA_ATTRIBUTE.finditer(m.group(0)))
        return f" {values} " + "\n" * m.group(0).count("\n")

    text = STYLE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return JSON_KEY.sub('""', TAG.sub(tag, text))


#: modules whose literals are data, not prose (the simulators' topic vocabularies)
NOT_PROSE = frozenset({"demo.py", "demo_world.py", "_unicode_unsafe.py"})
#: files of the package that hold the report's prose as text
TEMPLATE_SUFFIXES = frozenset({".j2", ".jinja", ".html", ".md", ".css", ".txt"})
#: modules whose docstrings name example people ("thanks nell trent"); never printed in outputs
EXAMPLE_NAMES = frozenset(
    {
        "privacy.py",
        "privacy_keys.py",
        "privacy_opt_out.py",
        "names.py",
        "scrub.py",
        "scrub_names.py",
        "scrub_patterns.py",
        "audit.py",
    }
)


@functools.cache
def _software_literals(leave_out: frozenset[str] = NOT_PROSE) -> tuple[str, ...]:
    """The string literals of Resonance's own code, docstrings included (simulators left out),
    and the text of its templates (the report's prose)."""
    root = Path(__file__).parent
    literals: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.name in leave_out or not path.is_file():
            continue
        if path.suffix in TEMPLATE_SUFFIXES:
            literals.append(path.read_text(encoding="utf-8"))
        elif path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.append(node.value)
    return tuple(literals)


@functools.cache
def software_words() -> frozenset[str]:
    """Words in the string literals of Resonance's own code, docstrings included, and in the
    report's templates.

    The report's captions and the writeup's prose are written by the software ("near zero",
    "median abs", "week (starting Monday, UTC)"; the model definitions are the models'
    docstrings): a handle or display name equal to one of
    these words is not leaked by that prose. The scrubber still redacts such handles in post
    texts; only the audit reads past them.
    """
    words: set[str] = set()
    for literal in _software_literals():
        for w in WORD.findall(literal):
            # "median_abs" is printed as "median abs" too; the parts of "-apple-system" (the
            # pages' font stack) are read as words, as the affix rule reads "name-style"
            parts = [p for p in (w, *re.split(r"[_\-]", w)) if p]
            # a lower-case name is matched in any case: "monday" meets "Monday"
            words.update(parts + [p.lower() for p in parts])
    return frozenset(words)


def _phrase(text: str) -> str:
    """A text as its case-folded words, one space apart and padded: the form phrases meet in."""
    return " " + " ".join(TOKEN.findall(fold(text))) + " "


@functools.cache
def software_prose() -> str:
    """The software's string literals as one folded phrase corpus (see :func:`_phrase`).

    The privacy modules are left out: their docstrings name example people to redact.
    """
    literals = _software_literals(NOT_PROSE | EXAMPLE_NAMES)
    return "\n".join(_phrase(literal) for literal in literals)


def is_software_phrase(name: str) -> bool:
    """A multi-word name that our own prose writes as a phrase ("At the fixed point").

    Multi-word names are matched in any case, so a display name "Fixed Point" would otherwise
    be "found" in the network model's definition that the writeup prints. Like
    :func:`software_words` for one-word names, this only lets the audit read past the
    software's own prose; the scrubber still redacts the name in post texts.
    """
    phrase = _phrase(name)
    return phrase.count(" ") > 2 and phrase in software_prose()


@dataclass(frozen=True)
class Hit:
    """One raw identifier found in an output."""

    file: str
    where: str  # column or line
    kind: str  # "id", "handle", "display_name", "email", "phone"
    value: str

    def __str__(self) -> str:
        return f"{self.file} [{self.where}]: raw {self.kind} {self.value!r}"


@dataclass(frozen=True)
class Identifiers:
    """The raw identifiers of the current input."""

    ids: frozenset[str]
    names: dict[str, str]  # value -> kind ("handle" / "display_name" / "email" / "phone")
    common_ids: frozenset[str] = frozenset()  # ids that are ordinary words: id columns only

    @classmethod
    def from_tables(
        cls, accounts: Iterable[pl.DataFrame], posts: Iterable[pl.DataFrame]
    ) -> Identifiers:
        """Collect identifiers from raw canonical accounts and posts (texts give e-mails).

        ``accounts`` and ``posts`` are paired per dump. Names that are ordinary words of the
        run (``privacy.ordinary_words`` over every dump's posts) and the schema's own vocabulary
        are left out, exactly as the ingest scrubber leaves them (``ingest_names.redactor_for``).
        """
        from analysis.ingest_names import VOCABULARY, run_posts

        ids: set[str] = set()
        found: dict[str, str] = {}
        common_ids: set[str] = set()
        accounts, posts = list(accounts), list(posts)
        if len(accounts) != len(posts):
            raise ValueError("accounts and posts must be given per dump, in pairs")
        for acc in accounts:
            ids.update(v for v in acc["account_id"].to_list() if v)
            for col in ("handle", "display_name"):
                for v in acc[col].drop_nulls().to_list():
                    for variant in name_variants(v, MIN_NAME):
                        found[variant] = col
        run = run_posts(posts) if posts else None
        # Ids that are ordinary words of the run (Usenet's "chance writes:") are still matched
        # exactly in id columns, but not as words of free text.
        if run is not None:
            common_ids = ordinary_words(run, ids)
        common_ids |= ids & software_words()  # "matrix" in a model's definition is not a user
        skip = (
            (ordinary_words(run, found) if run is not None else set())
            | set(VOCABULARY)
            | software_words()
        )
        names = {n: k for n, k in found.items() if n not in skip and not is_software_phrase(n)}
        for post in posts:
            ids.update(v for v in post["account_id"].to_list() if v)
            ids.update(v for v in post["reply_to_account_id"].drop_nulls().to_list())
            names.update(dict.fromkeys(raw_emails(post["text"]), "email"))
            names.update(dict.fromkeys(raw_phones(post["text"]), "phone"))
        return cls(frozenset(ids), names, frozenset(common_ids))


# ----------------------------------------------------------------------------- normalisation
# The audit's own matching code, deliberately different from the scrubber's (which compares
# token sequences in Python, ``privacy.NameRedactor``): here every string is normalised by polars
# expressions (Rust), and identifiers are found by multi-pattern substring search (Aho-Corasick,
# ``str.extract_many``), then checked for word boundaries. A blind spot of one is caught by the
# other. Only the table of look-alike letters is shared (it is data, not matching code).

_CONFUSABLE_FROM = [chr(k) for k in CONFUSABLES]
_CONFUSABLE_TO = [str(v) for v in CONFUSABLES.values()]
#: e-mails (also "user @ example.org") and phone-shaped digit runs, in Rust regex syntax
_EMAIL_RS = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PHONE_RS = r"(?:^|[^\w+.])[+(]?\d(?:[\s.()/_\-]{0,3}\d)+"


def visible(col: pl.Expr) -> pl.Expr:
    """NFKC, without format characters (zero-width joiners, direction marks...)."""
    return col.str.normalize("NFKC").str.replace_all(r"[\p{Cf}\x{180E}]", "")


def normalised(col: pl.Expr, fold_case: bool) -> pl.Expr:
    """:func:`visible`, look-alikes as Latin, one space for any whitespace, no space around
    "@"; lower-cased when ``fold_case``."""
    e = (
        visible(col)
        .str.replace_many(_CONFUSABLE_FROM, _CONFUSABLE_TO)
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

    A run is digits separated by at most three of `` .()/_-`` at a time and not glued to a
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


def _bounded(text: str, value: str) -> bool:
    """True if ``value`` occurs in ``text`` not glued to other word characters."""
    start = text.find(value)
    while start != -1:
        end = start + len(value)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(value, start + 1)
    return False


def _is_id_column(name: str) -> bool:
    return name.endswith("_id") or name in {"record_key", "account", "pseudonym"}


def scan_parquet(path: Path, scanner: Scanner, root: Path) -> list[Hit]:
    """Scan one Parquet file: exact ids in id columns, the text rules elsewhere."""
    hits: list[Hit] = []
    df = pl.read_parquet(path)
    rel = str(path.relative_to(root))
    for name, dtype in df.schema.items():
        col = df[name]
        if dtype == pl.List(pl.String):
            col = col.explode()
        elif dtype != pl.String:
            continue
        values = col.drop_nulls().unique()
        if _is_id_column(name):
            exact = values.filter(values.is_in(list(scanner.ident.ids)))
            hits += [Hit(rel, name, "id", v) for v in exact.to_list()[:5]]
        for found in scanner.scan_many(values.to_list()):
            if found:
                kind, value = found[0]
                hits.append(Hit(rel, name, kind, value))
            if len(hits) > 50:
                return hits
    return hits


def scan_text_file(path: Path, scanner: Scanner, root: Path) -> list[Hit]:
    """Scan one text file line by line (HTML: without the inlined plotly.js bundle)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if path.suffix in (".html", ".htm"):
        text = _markup_to_data(PLOTLY_BUNDLE.sub("", text))
    elif path.suffix == ".json":
        text = JSON_KEY.sub('""', text)
    hits = []
    rel = str(path.relative_to(root))
    for lineno, found in enumerate(scanner.scan_many(text.splitlines()), 1):
        for kind, value in found:
            hits.append(Hit(rel, f"line {lineno}", kind, value))
        if len(hits) > 50:
            break
    return hits


BINARY = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".npy", ".pt", ".onnx", ".lock"}


def output_files(root: Path, dirs: Iterable[str] = SCANNED_DIRS) -> list[Path]:
    """Every output file under the scanned folders."""
    files: list[Path] = []
    for d in dirs:
        base = root / d
        if base.exists():
            files += sorted(
                p
                for p in base.rglob("*")
                if p.is_file()
                and not any(p.relative_to(root).as_posix().startswith(n) for n in NOT_OUTPUTS)
            )
    return files


def audit(
    root: Path, ident: Identifiers, dirs: Iterable[str] = SCANNED_DIRS
) -> tuple[list[Hit], int]:
    """Scan every output under ``root``; return the hits and the number of files scanned."""
    scanner = Scanner(ident)
    hits: list[Hit] = []
    files = output_files(root, dirs)
    for path in files:
        if path.suffix == ".parquet":
            hits += scan_parquet(path, scanner, root)
        elif path.suffix.lower() not in BINARY:
            hits += scan_text_file(path, scanner, root)
    return hits, len(files)
