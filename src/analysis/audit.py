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

Pseudonyms are checked too, against the current accounts (``data/interim/accounts.parquet``,
when it exists): an account pseudonym in any output that is not an account of the current
data is a leftover of an earlier run: of another key (a rotation exists to unlink the old
pseudonyms) or of an account erased or gone from the dumps, typically kept by a frozen stage.

The matching code lives in ``analysis.audit_scan``; the software's own words and phrases,
which the audit reads past, in ``analysis.audit_software``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from analysis.audit_scan import MIN_NAME, Scanner, raw_emails, raw_phones
from analysis.audit_software import is_software_phrase, software_words
from analysis.privacy import name_variants, ordinary_words

#: What the pipeline and its users' renders write: the stages' folders, the DVC plots page that
#: `dvc plots show` writes (one point per account) and the outputs Jupyter saves in the paired
#: notebooks (a glob: the notebooks' sources beside them are not outputs).
SCANNED_DIRS = (
    "data/interim",
    "data/processed",
    "data/cache",
    "reports",
    "logs",
    "dvc_plots",
    "notebooks/*.ipynb",
)
#: committed sources under the scanned folders, not outputs (the DVC plots page template)
NOT_OUTPUTS = ("reports/templates",)
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


@dataclass(frozen=True)
class Hit:
    """One raw identifier found in an output."""

    file: str
    where: str  # column or line
    kind: str  # "id", "handle", "display_name", "email", "phone", "stale_pseudonym"
    value: str

    def __str__(self) -> str:
        if self.kind == STALE:
            return (
                f"{self.file} [{self.where}]: pseudonym {self.value!r} of no current account "
                "(another key, or erased or gone from the dumps)"
            )
        if self.kind == SMALL_GROUP:
            return (
                f"{self.file} [{self.where}]: {self.value} accounts, fewer than "
                "privacy.min_cell_k, in a published output"
            )
        if self.kind == FINE_TIME:
            return (
                f"{self.file} [{self.where}]: time {self.value!r} finer than "
                "privacy.time_resolution in a published output"
            )
        return f"{self.file} [{self.where}]: raw {self.kind} {self.value!r}"


#: The kind of a hit that is a pseudonym of no current account (see the module's docstring).
STALE = "stale_pseudonym"
#: The kind of a hit that is a time finer than ``privacy.time_resolution`` in a published output.
FINE_TIME = "fine_time"
#: What is published (``privacy.time_resolution`` applies there: params.yaml says so): the
#: public tables and their README, the writeup, the metrics kept in git. The analyst page
#: (``reports/index.html``) stays with the analyst and is not checked.
PUBLISHED = (
    "reports/public",
    "reports/methodology.md",
    "reports/methodology.html",
    "reports/metrics",
)
#: a date with a time of day, as the outputs write one (ISO with "T" or a space)
TIME_OF_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def fine_times(root: Path, resolution: str) -> list[Hit]:
    """Times in the published outputs finer than ``resolution`` (a polars duration, "1h"): a
    scoring date at the last post's second dates that post. Each file's first five."""
    hits: list[Hit] = []
    for path in output_files(root, PUBLISHED):
        if path.suffix.lower() in BINARY or path.suffix == ".parquet":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found = [
            (text.count("\n", 0, m.start()) + 1, m.group()) for m in TIME_OF_DAY.finditer(text)
        ]
        if not found:
            continue
        times = pl.Series([datetime.fromisoformat(t) for _, t in found], dtype=pl.Datetime("us"))
        coarse = times.dt.truncate(resolution)
        fine = [(line, t) for (line, t), a, b in zip(found, times, coarse, strict=True) if a != b]
        rel = str(path.relative_to(root))
        hits += [Hit(rel, f"line {line}", FINE_TIME, t) for line, t in fine[:5]]
    return hits


#: The kind of a hit that is a count of fewer than ``privacy.min_cell_k`` accounts in a
#: published output.
SMALL_GROUP = "small_group"
#: Scanned for small groups: what is published, and the DVC plot data (``reports/plots``:
#: cached and pushed with the run, drawn by ``dvc plots``; the compare stage's printed the
#: gains of a ring of 5 members the writeup hides).
SMALL_GROUP_SCANNED = (*PUBLISHED, "reports/plots")
#: A column or key that counts the accounts a row or figure is computed over: ``n_accounts``,
#: ``n_targets``, ``n_participants``, ``n_authors``, ``n_experts``, ``n_answerers_*``,
#: ``n_accounts_*``, ``n_*_accounts`` (``n_one_off_accounts``), and
#: the flat robustness table's ``<test>_n`` and ``<adversary>_n_at_<strength>``.
ACCOUNT_COUNT = re.compile(
    r"(?:n_(?:\w+_)?(?:accounts|targets|participants|authors|answerers|experts)(?:_\w+)?"
    r"|\w+_n|\w+_n_at_[^_]+)"
)


def _small(value: object, k: int) -> bool:
    try:
        v = float(str(value).replace(",", ""))
    except ValueError:
        return False
    return 0 < v < k


def _json_small_groups(node: object, k: int, where: str = "") -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    if isinstance(node, dict):
        for key, v in node.items():
            at = f"{where}.{key}" if where else str(key)
            if ACCOUNT_COUNT.fullmatch(str(key)) and isinstance(v, int | float) and _small(v, k):
                found.append((at, v))
            found += _json_small_groups(v, k, at)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _json_small_groups(v, k, f"{where}[{i}]")
    return found


def _table_small_groups(header: list[str], rows: Iterable[list[str]], k: int) -> list[str]:
    cols = [i for i, c in enumerate(header) if ACCOUNT_COUNT.fullmatch(c.strip())]
    found = []
    for n, row in enumerate(rows, 1):
        for i in cols:
            if i < len(row) and _small(row[i].strip(), k):
                found.append(f"row {n}, {header[i].strip()}: {row[i].strip()}")
    return found


def small_groups(root: Path, k: int) -> list[Hit]:
    """Counts of 1 to ``k - 1`` accounts (``privacy.min_cell_k``) in the published outputs and
    the DVC plot data (:data:`SMALL_GROUP_SCANNED`): a CSV column, a Markdown table's column or
    a JSON key named as a count of accounts (:data:`ACCOUNT_COUNT`). A row or figure over
    fewer than k accounts is suppressed where it is made, its count with it (``publish``), so
    such a count means a small group's statistic was published. Each file's first five."""
    hits: list[Hit] = []
    for path in output_files(root, SMALL_GROUP_SCANNED):
        rel = str(path.relative_to(root))
        found: list[str] = []
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", errors="replace", newline="") as f:
                reader = csv.reader(f)
                header = next(reader, [])
                found = _table_small_groups(header, reader, k)
        elif path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
            except ValueError:
                continue
            found = [f"{at}: {v}" for at, v in _json_small_groups(data, k)]
        elif path.suffix == ".md":
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            for i, line in enumerate(lines[:-1]):
                if line.startswith("|") and lines[i + 1].startswith("|---"):
                    body = []
                    for row in lines[i + 2 :]:
                        if not row.startswith("|"):
                            break
                        body.append(row.strip().strip("|").split("|"))
                    header = line.strip().strip("|").split("|")
                    found += [
                        f"line {i + 1} table, {f}" for f in _table_small_groups(header, body, k)
                    ]
        for where, value in (f.rsplit(": ", 1) for f in found[:5]):
            hits.append(Hit(rel, where, SMALL_GROUP, value))
    return hits


#: An account pseudonym as ingest writes it (``privacy.ACCOUNT_PREFIX`` and 16 hex digits),
#: matched on its own: the audit does not import the pseudonymiser's code (a test checks the
#: two agree).
PSEUDONYM = r"\bacct_[0-9a-f]{16}\b"


def current_pseudonyms(root: Path) -> pl.Series | None:
    """The account pseudonyms of the current data (None when ingest has not run): the
    accounts', and those of the account rows ingest rejected (``rejects.parquet`` keys them
    by pseudonym; such an account is removed, yet its reject row is of this run)."""
    path = root / "data/interim/accounts.parquet"
    if not path.exists():
        return None
    ids = [pl.read_parquet(path, columns=["account_id"])["account_id"]]
    rejects = root / "data/interim/rejects.parquet"
    if rejects.exists():
        rows = pl.read_parquet(rejects, columns=["table", "record_key"])
        ids.append(rows.filter(pl.col("table") == "accounts")["record_key"].alias("account_id"))
    return pl.concat(ids).drop_nulls().unique().sort()


def stale_pseudonyms(values: pl.Series, current: pl.Series) -> list[str]:
    """The distinct account pseudonyms in ``values`` (strings) that are not in ``current``."""
    found = values.str.extract_all(PSEUDONYM).explode().drop_nulls()
    if found.len() == 0:
        return []
    found = found.unique().sort()
    return found.filter(~found.is_in(current.implode())).to_list()


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


def _is_id_column(name: str) -> bool:
    return name.endswith("_id") or name in {"record_key", "account", "pseudonym"}


def scan_parquet(
    path: Path, scanner: Scanner, root: Path, current: pl.Series | None = None
) -> list[Hit]:
    """Scan one Parquet file: exact ids in id columns, the text rules elsewhere, and (with
    ``current``) pseudonyms of no current account in every string column."""
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
        if current is not None:
            hits += [Hit(rel, name, STALE, v) for v in stale_pseudonyms(values, current)[:5]]
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


def scan_text_file(
    path: Path, scanner: Scanner, root: Path, current: pl.Series | None = None
) -> list[Hit]:
    """Scan one text file line by line (HTML: without the inlined plotly.js bundle), and
    (with ``current``) for pseudonyms of no current account, JSON keys and markup included."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    hits = []
    rel = str(path.relative_to(root))
    if current is not None:
        raw = text.splitlines()
        for value in stale_pseudonyms(pl.Series(raw, dtype=pl.String), current)[:5]:
            line = next(i for i, ln in enumerate(raw, 1) if value in ln)
            hits.append(Hit(rel, f"line {line}", STALE, value))
    if path.suffix in (".html", ".htm"):
        text = _markup_to_data(PLOTLY_BUNDLE.sub("", text))
    elif path.suffix == ".json":
        text = JSON_KEY.sub('""', text)
    lines = text.splitlines()
    for lineno, found in enumerate(scanner.scan_many(lines), 1):
        for kind, value in found:
            hits.append(Hit(rel, f"line {lineno}", kind, value))
        if len(hits) > 50:
            break
    return hits


BINARY = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".npy", ".pt", ".onnx", ".lock"}


def output_files(root: Path, dirs: Iterable[str] = SCANNED_DIRS) -> list[Path]:
    """Every output file under the scanned folders (or the file itself, where one is named)."""
    files: list[Path] = []
    for d in dirs:
        if any(c in d for c in "*?["):  # a glob: the files it names
            files += sorted(p for p in root.glob(d) if p.is_file())
            continue
        base = root / d
        if base.is_file():
            files.append(base)
        elif base.exists():
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
    current = current_pseudonyms(root)
    hits: list[Hit] = []
    files = output_files(root, dirs)
    for path in files:
        if path.suffix == ".parquet":
            hits += scan_parquet(path, scanner, root, current)
        elif path.suffix.lower() not in BINARY:
            hits += scan_text_file(path, scanner, root, current)
    return hits, len(files)
