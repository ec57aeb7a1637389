"""Adapter ``canonical``: the documented way to bring any dump (Parquet, CSV or JSONL).

``source.path`` is a folder holding ``accounts``, ``posts`` and optionally ``reactions``, each as
``.parquet``, ``.csv`` or ``.jsonl`` (see docs/data-format.md). Rows whose required fields are
missing or whose dates do not parse go to rejects with their line; columns of the wrong type
stop the stage with a message naming the file and column. Text times are ISO 8601, each row
parsed on its own (:func:`parse_time`; naive = UTC); numeric times (Unix seconds or
milliseconds, a JSON number) are rejected with that reason rather than guessed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from analysis import schema
from analysis.sources.base import (
    CARRIED_COLUMNS,
    FLAG_COLUMNS,
    MEASURE_COLUMNS,
    TEXT_COLUMNS,
    LazyTexts,
    Rejects,
    SourceError,
    SourceTables,
)

log = logging.getLogger(__name__)

EXTENSIONS = (".parquet", ".csv", ".jsonl")
#: ISO 8601 shapes read, after :func:`parse_time` normalises the separator and the offset
#: (``Z``, ``+02``, ``+0200`` -> ``+00:00``, ``+02:00``). Zoned first, then naive (= UTC).
ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z")
NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
NUMERIC_TIME = "{} is a number, not an ISO 8601 time (Unix time is not read: its unit is unknown)"
#: Spellings of booleans in text formats (compared stripped and case-folded).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


def parse_boolean(col: str) -> pl.Expr:
    """``true``/``false`` (also yes/no, 1/0, any case) as a Boolean; anything else is null."""
    v = pl.col(col).cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        pl.when(v.is_in(TRUE_WORDS))
        .then(pl.lit(True))
        .when(v.is_in(FALSE_WORDS))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
        .alias(col)
    )


def parse_time(col: str) -> pl.Expr:
    """ISO 8601 text as a UTC datetime, each row on its own; null where it is not ISO 8601.

    ``str.to_datetime`` without a format infers one format from the first value and applies it
    to every row, so a zoned row after a naive one (or the reverse) did not parse. Here every
    accepted shape is tried on every row: with an offset (``Z``, ``+02``, ``+0200``,
    ``+02:00``; converted to UTC) or without (read as UTC), ``T`` or a space between date and
    time, seconds and fractions optional, or a date alone (midnight UTC).
    """
    v = (
        pl.col(col)
        .str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ t]", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"(T[\d:.]+[+-]\d{2})$", "${1}:00")
        .str.replace(r"(T[\d:.]+[+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    parse = lambda f: v.str.to_datetime(f, strict=False, time_unit="us")  # noqa: E731
    return pl.coalesce(
        *[parse(f).dt.convert_time_zone("UTC") for f in ZONED_FORMATS],
        *[parse(f).dt.replace_time_zone("UTC") for f in NAIVE_FORMATS],
    ).alias(col)


def _numeric_time(df: pl.DataFrame, name: str) -> pl.Series:
    """Rows whose time column holds a number (a JSON number, or digits in a text column)."""
    src = df.schema[name]
    if src.is_numeric():
        return df[name].is_not_null()
    if src == pl.String:
        return df[name].str.strip_chars().str.contains(r"^[+-]?\d+(\.\d*)?$").fill_null(False)
    return pl.Series([False] * df.height, dtype=pl.Boolean)


def privacy_flags(raw: pl.DataFrame, parsed: pl.DataFrame) -> pl.DataFrame:
    """``is_minor`` / ``has_consent`` of every account row, erring on the side of the person.

    A value that is present but does not parse ("maybe", "unknown") counts as a minor and as no
    consent: the row is rejected anyway, and guessing "adult, consenting" would ingest a
    person who may be a child.
    """
    if "account_id" not in parsed.columns:
        return pl.DataFrame(schema=FLAG_COLUMNS)  # no id: nothing to remove by
    out = parsed.select(
        pl.col(c).cast(pl.String) if c in parsed.columns else pl.lit(None, dtype=pl.String).alias(c)
        for c in ("account_id", "handle", "display_name")
    )
    for col, unsure in (("is_minor", True), ("has_consent", False)):
        if col in parsed.columns:
            unparsable = raw[col].is_not_null() & parsed[col].is_null()
            out = out.with_columns(
                pl.when(unparsable).then(pl.lit(unsure)).otherwise(parsed[col]).alias(col)
            )
        else:
            out = out.with_columns(pl.lit(None, dtype=pl.Boolean).alias(col))
    return out.select(pl.col(c).cast(t) for c, t in FLAG_COLUMNS.items())


def _find(folder: Path, table: str, required: bool) -> Path | None:
    for ext in EXTENSIONS:
        candidate = folder / f"{table}{ext}"
        if candidate.exists():
            return candidate
    if required:
        raise SourceError(
            folder, None, f"no {table} table", f"{table}.parquet, {table}.csv or {table}.jsonl"
        )
    return None


def _lazy_columns(path: Path, table: str) -> tuple[str, ...]:
    """The carried columns of ``path`` (``CARRIED_COLUMNS``) that can stay on disk: none but
    for posts in Parquet whose texts and labels are of the canonical types; then those, and the
    measures too where all of them are (anything else is read whole, so that its casts are
    checked row by row: a pandas export's nanosecond times or float counts)."""
    if table != "posts" or path.suffix != ".parquet":
        return ()
    try:
        file_schema = pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError):
        return ()  # _load reports it
    typed = lambda cols: all(  # noqa: E731
        file_schema.get(c, CARRIED_COLUMNS[c]) in (CARRIED_COLUMNS[c], pl.Null()) for c in cols
    )
    if not typed(TEXT_COLUMNS):
        return ()
    if not typed(MEASURE_COLUMNS):
        log.info(
            "%s: the measures are not all of the canonical types (%s): read whole, checked row "
            "by row; the texts stay in the file",
            path,
            ", ".join(
                f"{c} {file_schema[c]}"
                for c in MEASURE_COLUMNS
                if c in file_schema and file_schema[c] not in (MEASURE_COLUMNS[c], pl.Null())
            ),
        )
        return tuple(TEXT_COLUMNS)
    return tuple(CARRIED_COLUMNS)


def _load(path: Path, table: str, skip: tuple[str, ...] = ()) -> pl.DataFrame:
    """Read one table; strings for every column of text formats, so parsing is ours to report.

    ``skip``: columns left unread (Parquet only).
    """
    cols = {c: t for c, t in schema.columns(table).items() if c not in skip}
    if path.suffix != ".parquet":
        head = path.open("rb").read(4096)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            raise SourceError(path, 1, "is UTF-16 (or binary), not UTF-8", "a UTF-8 text file")
    try:
        if path.suffix == ".parquet":
            present = pl.read_parquet_schema(path)
            return pl.read_parquet(path, columns=[c for c in present if c in cols])
        if path.suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False, encoding="utf8")
        else:
            df = pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.NoDataError as exc:
        raise SourceError(path, None, "is empty", "a header line and one row per record") from exc
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(
            path,
            None,
            f"cannot be parsed ({str(exc).splitlines()[0]})",
            f"a valid {path.suffix[1:]} file in UTF-8",
        ) from exc
    if "labels" in df.columns and df.schema["labels"] == pl.String:
        # CSV has no lists: labels are written "a|b|c".
        df = df.with_columns(pl.col("labels").str.split("|"))
    # provenance is ours to set (the file read and its line), whatever the file claims
    return df.select([c for c in df.columns if c in cols and c not in schema.PROVENANCE])


def _parse(
    df: pl.DataFrame, table: str, path: Path, rejects: Rejects
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast text columns to the schema row by row; unparsable rows go to rejects.

    Returns the accepted rows and the privacy flags of the rejected ones (accounts only).
    """
    cols = schema.columns(table)
    df = df.with_row_index("_line", offset=2 if path.suffix == ".csv" else 1)
    exprs = [pl.col("_line")]
    for name, dtype in cols.items():
        if name not in df.columns:
            continue
        src = df.schema[name]
        if src == dtype:
            exprs.append(pl.col(name))
        elif isinstance(dtype, pl.Datetime) and src == pl.String:
            exprs.append(parse_time(name))
        elif isinstance(dtype, pl.Datetime) and src.is_numeric():
            # a JSON number: Unix seconds, milliseconds or microseconds? Not guessed: rejected
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif dtype == pl.Boolean and src in (pl.String, pl.Int64, pl.Int32, pl.Int8):
            # CSV and JSONL carry booleans as text ("true", "FALSE", "1"); polars cannot cast
            # a string column to Boolean at all.
            exprs.append(parse_boolean(name))
        elif dtype == pl.String and name.endswith("_id") and src.is_float():
            # an id column with a null is float64 in a pandas export (7 -> 7.0): "7.0" named
            # no account of the accounts table's 7 (a minor's posts were ingested under an
            # unflagged account "7.0"). An integral float is that integer; any other is no id.
            v = pl.col(name)
            exprs.append(
                pl.when(v.is_finite() & (v == v.floor()))
                .then(v.cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(pl.lit(None, dtype=pl.String))
                .alias(name)
            )
        else:
            exprs.append(pl.col(name).cast(dtype, strict=False))
    try:
        parsed = df.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            path,
            None,
            f"columns do not fit the {table} schema ({exc})",
            "the types in docs/data-format.md",
        ) from exc
    # A value that was present but did not parse is a malformed row.
    checks = {}
    for name, dtype in cols.items():
        if name in df.columns and isinstance(dtype, pl.Datetime):
            checks[NUMERIC_TIME.format(name)] = _numeric_time(df, name)
    for name in cols:
        if name in df.columns:
            checks[name] = parsed[name].is_null() & df[name].is_not_null()
    for name in schema.REQUIRED[table]:
        present = (
            parsed[name].is_not_null()
            if name in parsed.columns
            else pl.Series([False] * df.height, dtype=pl.Boolean)
        )
        checks[f"missing required {name}"] = ~present
    mask = pl.Series([False] * df.height, dtype=pl.Boolean)
    for label, m in checks.items():
        hit = m & ~mask
        for line, key in zip(
            parsed.filter(hit)["_line"], _keys(parsed.filter(hit), table), strict=True
        ):
            reason = label if label.startswith("missing") or " " in label else f"unparsable {label}"
            rejects.add(table, path, int(line), key, reason)
        mask = mask | m
    flags = pl.DataFrame(schema=FLAG_COLUMNS)
    if table == "accounts":
        flags = privacy_flags(df.filter(mask), parsed.filter(mask))
    accepted = parsed.filter(~mask).select(
        pl.exclude("_line", *schema.PROVENANCE),
        pl.lit(path.name).alias("source_file"),
        pl.col("_line").alias("source_line"),
    )
    return accepted, flags


def _keys(df: pl.DataFrame, table: str) -> list[str | None]:
    col = schema.ID_COLUMN.get(table)
    if col and col in df.columns:
        return df[col].cast(pl.String).to_list()
    return [None] * df.height


def posts_on_disk(path: Path) -> int | None:
    """The posts of a canonical dump as its Parquet file's metadata counts them, unread (None
    where the posts are not in Parquet): what ``ingest.engine: auto`` decides on before reading
    (the texts left on disk or not)."""
    folder = path if path.is_dir() else path.parent
    found = _find(folder, "posts", required=False)
    if found is None or found.suffix != ".parquet":
        return None
    try:  # the row count from the footer: nothing but the metadata is read
        return int(pl.scan_parquet(found, glob=False).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return None  # read() reports it


def read(path: Path, lazy_text: bool = False) -> SourceTables:
    """Read a canonical dump folder (or a single posts file).

    ``lazy_text``: leave the posts' texts, labels and measures in their Parquet file
    (:class:`~analysis.sources.base.LazyTexts`; ``ingest.engine: streaming``).
    """
    folder = path if path.is_dir() else path.parent
    rejects = Rejects()
    out: dict[str, pl.DataFrame] = {}
    n_read: dict[str, int] = {}
    flags = None
    texts = None
    for table in ("accounts", "posts", "reactions"):
        found = _find(folder, table, required=table != "reactions")
        if found is None:
            out[table], n_read[table] = schema.empty(table), 0
            continue
        on_disk = _lazy_columns(found, table) if lazy_text else ()
        raw = _load(found, table, skip=on_disk)
        if table == "posts" and not raw.height:
            raise SourceError(found, None, "has a header and no rows", "one row per post")
        n_read[table] = raw.height
        out[table], rejected_flags = _parse(raw, table, found, rejects)
        if on_disk:
            accepted = out[table]
            lines = None if accepted.height == raw.height else accepted["source_line"]
            texts = LazyTexts(found, lines, on_disk)
        if table == "accounts":
            flags = rejected_flags
    platform = out["posts"]["platform"].drop_nulls().first() if out["posts"].height else "canonical"
    return SourceTables(
        accounts=out["accounts"],
        posts=out["posts"],
        reactions=out["reactions"],
        rejects=rejects.frame(),
        n_read=n_read,
        platform=str(platform or "canonical"),
        account_flags=flags,
        texts=texts,
    )
