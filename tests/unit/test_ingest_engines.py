"""``ingest.engine``: memory and streaming write the same tables, and streaming holds a batch.

The contract: both engines write identical files, row order included (posts sorted by time and
pseudonym; accounts, reactions and rejects in the order ingest decides them). The stage itself
runs here (``python -m analysis ingest``) on a canonical Parquet dump, so the streaming side
takes its real route: texts left in the file and read a batch at a time.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from analysis import cli, paths, privacy, schema
from analysis.config import IngestParams, PrivacyParams
from analysis.ingest import Source, ingest, plan
from analysis.ingest_texts import sink_posts
from analysis.sources import posts_on_disk, read_source
from analysis.sources.base import CARRIED_COLUMNS, MEASURE_COLUMNS, TEXT_COLUMNS

NOW = datetime(2030, 1, 1, tzinfo=UTC)
KEY = b"engine-test-key-0123456789abcdef"
OUTPUTS = (*paths.INTERIM_TABLES.values(), paths.REJECTS)


def write_dump(folder: Path, accounts: pl.DataFrame, posts: pl.DataFrame, reactions) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (("accounts", accounts), ("posts", posts), ("reactions", reactions)):
        if df is not None:
            df.write_parquet(folder / f"{name}.parquet")
    return folder


def run_stage(
    root: Path,
    dump: Path,
    engine: str,
    monkeypatch,
    batch_rows: int = 97,
    fmt: str = "canonical",
    source: dict | None = None,
    **ingest: object,
) -> Path:
    """Run the ingest stage in ``root`` with ``engine``; return ``root``. ``source``: more keys
    of the source section (extra dumps, a link table)."""
    root.mkdir()
    monkeypatch.chdir(root)
    params = {
        "source": {"format": fmt, "path": str(dump), **(source or {})},
        "ingest": {"engine": engine, "batch_rows": batch_rows, "max_reject_share": 0.5, **ingest},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli.main(["--params", "params.yaml", "ingest"]) == 0
    return root


def assert_same_outputs(a: Path, b: Path) -> None:
    for rel in OUTPUTS:
        assert_frame_equal(pl.read_parquet(a / rel), pl.read_parquet(b / rel), check_exact=True)
    for rel in (paths.INGEST_METRICS, paths.INGEST_COUNTS):
        assert json.loads((a / rel).read_text()) == json.loads((b / rel).read_text()), rel


@pytest.fixture
def demo_dump(small_demo, tmp_path) -> Path:
    return write_dump(tmp_path / "raw", small_demo.accounts, small_demo.posts, small_demo.reactions)


def test_engines_write_identical_tables_on_the_demo(demo_dump, tmp_path, monkeypatch) -> None:
    memory = run_stage(tmp_path / "memory", demo_dump, "memory", monkeypatch)
    streaming = run_stage(tmp_path / "streaming", demo_dump, "streaming", monkeypatch)
    assert_same_outputs(memory, streaming)
    posts = pl.read_parquet(streaming / paths.POSTS)
    assert posts.height > 20 * 97  # many batches, the last one partial
    assert posts["text"].null_count() < posts.height  # texts were attached, not lost
    assert not posts["text"].str.contains("@example.org").any()  # and scrubbed


def test_ids_digested_in_small_slices_write_identical_tables(
    demo_dump, tmp_path, monkeypatch
) -> None:
    """The pseudonyms are digested ``privacy.DIGEST_ROWS`` ids at a time and looked up
    ``privacy.LOOKUP_ROWS`` at a time (the transients of a slice): 13 and 29 at a time, the
    tables are those of one slice a column."""
    whole = run_stage(tmp_path / "whole", demo_dump, "streaming", monkeypatch)
    monkeypatch.setattr(privacy, "DIGEST_ROWS", 13)
    monkeypatch.setattr(privacy, "LOOKUP_ROWS", 29)
    sliced = run_stage(tmp_path / "sliced", demo_dump, "streaming", monkeypatch)
    assert pl.read_parquet(sliced / paths.POSTS).height > 100 * 13
    assert_same_outputs(whole, sliced)


def test_auto_streams_above_its_size_and_holds_every_text_below(
    demo_dump, tmp_path, monkeypatch
) -> None:
    """``engine: auto`` takes the streaming engine for a run above ``streaming_above_posts``
    posts read (the texts left in the Parquet file: its footer counted them) and the memory
    engine at or below it (the texts read whole): the same tables either way."""
    memory = run_stage(tmp_path / "memory", demo_dump, "memory", monkeypatch)
    n_posts = pl.read_parquet(demo_dump / "posts.parquet").height
    for above, engine in ((n_posts - 1, "streaming"), (n_posts, "memory")):
        auto = run_stage(
            tmp_path / f"auto-{above}", demo_dump, "auto", monkeypatch, streaming_above_posts=above
        )
        assert_same_outputs(memory, auto)
        said = (auto / "logs" / "resonance.log").read_text()  # the stage's own log
        assert f"ingest engine: {engine} ({n_posts:,} posts read" in said
        assert ("(streaming, 97 texts at a time)" in said) == (engine == "streaming")
    assert posts_on_disk("canonical", demo_dump) == n_posts
    assert posts_on_disk("canonical", demo_dump / "posts.parquet") == n_posts
    assert posts_on_disk("stackexchange", demo_dump) is None  # read whole by its adapter


@pytest.mark.parametrize("engine", ["memory", "streaming"])
def test_the_raw_tables_are_let_go_before_the_texts_are_scrubbed(
    demo_dump, tmp_path, monkeypatch, engine: str
) -> None:
    """Once the plan is made the stage keeps the posts' texts alone (``PostTexts``): no raw
    table (every raw id, the reactions) is alive while the texts are scrubbed and written (the
    raw skeleton of 10M posts is ~1.1 GiB; a 3M streaming run's sink 2.3 -> 1.6 GiB)."""
    import gc
    import weakref

    from analysis.sources.base import PostTexts
    from analysis.stages import ingest as stage

    read: list[weakref.ref] = []  # every raw table the stage read, and the tables' holder

    def reading(*args, **kwargs):
        tables = real_read(*args, **kwargs)
        read.extend(weakref.ref(t) for t in (tables, tables.posts, tables.reactions))
        return tables

    alive: list[int] = []

    def checking(real):
        def wrapped(skeleton, tables, *args, **kwargs):
            assert tables and all(isinstance(t, PostTexts) for t in tables)
            gc.collect()
            alive.append(sum(r() is not None for r in read))
            return real(skeleton, tables, *args, **kwargs)

        return wrapped

    real_read = stage.read_source
    monkeypatch.setattr(stage, "read_source", reading)
    monkeypatch.setattr(stage, "sink_posts", checking(stage.sink_posts))
    monkeypatch.setattr(stage, "posts_in_memory", checking(stage.posts_in_memory))
    run_stage(tmp_path / engine, demo_dump, engine, monkeypatch)
    assert len(read) == 3 and alive == [0]


def test_auto_is_resolved_by_the_posts_read() -> None:
    """``IngestParams.for_posts``: auto by the count, a chosen engine kept whatever the count."""
    auto = IngestParams(streaming_above_posts=1_000)
    assert auto.engine == "auto" and IngestParams().engine == "auto"  # the default
    assert auto.for_posts(999).engine == "memory"
    assert auto.for_posts(1_000).engine == "memory"
    assert auto.for_posts(1_001).engine == "streaming"
    assert auto.for_posts(1_001).batch_rows == auto.batch_rows  # nothing else moves
    for chosen in ("memory", "streaming"):
        fixed = IngestParams(engine=chosen, streaming_above_posts=1_000)
        assert fixed.for_posts(0).engine == fixed.for_posts(10**9).engine == chosen


def bad_dump(small_demo, folder: Path) -> Path:
    """The demo with one of every whole-table problem ingest rejects or removes."""
    posts, accounts = small_demo.posts, small_demo.accounts
    first = posts.row(0, named=True)
    root = posts.filter(pl.col("parent_post_id").is_null()).row(5, named=True)
    minor = accounts["account_id"][3]
    extra = [
        {**first},  # duplicate post_id
        {**first, "post_id": "bad-long", "text": "word " * 400},  # over max_text_chars
        {**first, "post_id": "bad-dangling", "parent_post_id": "no-such-post"},
        {**first, "post_id": "bad-below-dangling", "parent_post_id": "bad-dangling"},
        {  # a reply dated before its parent: detached, not rejected
            **first,
            "post_id": "bad-early",
            "parent_post_id": root["post_id"],
            "created_at": root["created_at"] - timedelta(days=1),
        },
        {**first, "post_id": "bad-no-author", "account_id": None},  # the adapter rejects it
        {**first, "post_id": "bad-future", "created_at": datetime(2999, 1, 1, tzinfo=UTC)},
        # negative counts, read where the measures are (on disk for the streaming engine)
        {**first, "post_id": "bad-negative", "n_likes": -3},
        {**first, "post_id": "bad-negatives", "n_views": -1, "n_likes": -2},
    ]
    bad = pl.concat([posts, pl.DataFrame(extra, schema=posts.schema)])
    # a minor: removed with everything written, replies to them detached
    accounts = accounts.with_columns(
        (pl.col("account_id") == minor).alias("is_minor"),
    )
    return write_dump(folder, accounts, bad, small_demo.reactions)


def test_bad_input_gives_the_same_rejects(small_demo, tmp_path, monkeypatch) -> None:
    dump = bad_dump(small_demo, tmp_path / "raw")
    limits = {"batch_rows": 50, "max_text_chars": 1_000}
    memory = run_stage(tmp_path / "memory", dump, "memory", monkeypatch, **limits)
    streaming = run_stage(tmp_path / "streaming", dump, "streaming", monkeypatch, **limits)
    assert_same_outputs(memory, streaming)
    reasons = set(pl.read_parquet(streaming / paths.REJECTS)["reason"].to_list())
    for expected in (
        "duplicate post_id (first occurrence kept)",
        "text longer than ingest.max_text_chars (1,000)",
        "dangling parent_post_id (parent not among the posts)",
        "parent rejected (the thread above it is not in the dump)",
        "missing required account_id",
        "created_at out of range",
    ):
        assert any(r.startswith(expected.split(" (")[0]) for r in reasons), (expected, reasons)
    assert "reply dated before its parent" not in reasons
    # each negative row once, named by its first negative count, at its line of the file
    rej = pl.read_parquet(streaming / paths.REJECTS)
    negative = rej.filter(pl.col("reason").str.starts_with("negative"))
    lines = {r: i + 1 for i, r in enumerate(pl.read_parquet(dump / "posts.parquet")["post_id"])}
    assert sorted(negative.select("source_file", "source_line", "reason").rows()) == [
        ("posts.parquet", lines["bad-negative"], "negative n_likes"),
        ("posts.parquet", lines["bad-negatives"], "negative n_views"),
    ]
    counts = json.loads((streaming / paths.INGEST_COUNTS).read_text())["sources"]
    assert next(iter(counts.values()))["accounts"]["removed_minor"] == 1
    # the minor's words cut from kept texts, the same in both engines
    assert next(iter(counts.values()))["posts"]["removed_text_cut"] > 0


def test_measures_of_other_types_are_read_whole_and_the_texts_still_streamed(
    small_demo, tmp_path, monkeypatch, caplog
) -> None:
    """A pandas export's nanosecond times and float counts: the measures are read whole (their
    casts checked row by row), the texts stay in the file, and both engines write the same."""
    posts = small_demo.posts.with_columns(
        pl.col("totals_taken_at").cast(pl.Datetime("ns", "UTC")),
        pl.col("n_views").cast(pl.Float64),
    )
    dump = write_dump(tmp_path / "raw", small_demo.accounts, posts, small_demo.reactions)
    with caplog.at_level("INFO", logger="analysis.sources.canonical"):
        tables = read_source("canonical", dump, lazy_text=True)
    assert tables.texts is not None and tables.texts.columns == tuple(TEXT_COLUMNS)
    assert "the texts stay in the file" in caplog.text and "n_views Float64" in caplog.text
    memory = run_stage(tmp_path / "memory", dump, "memory", monkeypatch)
    streaming = run_stage(tmp_path / "streaming", dump, "streaming", monkeypatch)
    assert_same_outputs(memory, streaming)
    # and the same tables as the canonical types give (the casts lose nothing here)
    typed = write_dump(  # a folder of the same name: the same pseudonyms' namespace
        tmp_path / "typed" / "raw", small_demo.accounts, small_demo.posts, small_demo.reactions
    )
    assert_same_outputs(run_stage(tmp_path / "t", typed, "streaming", monkeypatch), streaming)


def test_a_minor_in_one_dump_is_removed_from_every_dump_the_link_table_joins(
    small_demo, tmp_path, monkeypatch
) -> None:
    """The link table makes an adult of dump A and a minor of dump B one person: the stage
    removes that person from both dumps (before, A's posts stayed under A's pseudonym, joined
    to nothing), and both engines still write the same tables."""
    accounts, posts = small_demo.accounts, small_demo.posts
    person = posts.filter(pl.col("kind") == "post")["account_id"][0]
    dump_a = write_dump(tmp_path / "a", accounts, posts, small_demo.reactions)
    flagged = accounts.with_columns((pl.col("account_id") == person).alias("is_minor"))
    dump_b = write_dump(tmp_path / "b", flagged, posts, small_demo.reactions)
    links = tmp_path / "links.csv"
    links.write_text(f"namespace_a,id_a,namespace_b,id_b\nA,{person},B,{person}\n")
    source = {
        "name": "A",
        "extra": [{"format": "canonical", "path": str(dump_b), "name": "B"}],
        "link_table": str(links),
    }
    runs = [
        run_stage(tmp_path / engine, dump_a, engine, monkeypatch, source=source)
        for engine in ("memory", "streaming")
    ]
    assert_same_outputs(*runs)
    key = os.environ["RESONANCE_KEY"].encode()
    gone = privacy.pseudonym(key, "A", "account", person, privacy.ACCOUNT_PREFIX)
    written = pl.read_parquet(runs[0] / paths.POSTS)
    assert written.height > 1000  # the other people of both dumps stay
    assert gone not in set(written["account_id"]) | set(written["reply_to_account_id"])
    counts = json.loads((runs[0] / paths.INGEST_COUNTS).read_text())["sources"]
    assert counts["A"]["accounts"]["removed_linked"] == 1
    assert counts["B"]["accounts"]["removed_minor"] == 1


def test_streaming_holds_at_most_batch_rows_texts(small_demo, tmp_path) -> None:
    """The texts held at once are bounded by ``batch_rows``, whatever the size of the dump."""
    held: dict[int, list[int]] = {}
    for n_posts in (500, 2_000):
        posts = small_demo.posts.head(n_posts)
        dump = write_dump(
            tmp_path / f"raw-{n_posts}", small_demo.accounts, posts, small_demo.reactions
        )
        tables = read_source("canonical", dump, lazy_text=True)
        assert tables.texts is not None and tables.posts["text"].null_count() == n_posts
        params = IngestParams(engine="streaming", batch_rows=64, max_reject_share=0.5)
        res = plan([Source("demo", tables)], KEY, set(), params, PrivacyParams(), NOW)
        held[n_posts] = []
        n = sink_posts(
            res.posts,
            [tables],
            res.names,
            tmp_path / f"posts-{n_posts}.parquet",
            64,
            held[n_posts].append,
            edits=res.text_edits,
        )
        assert n == res.posts.height
        # pass 1 reads every raw text once, pass 2 one bucket per 64 written posts
        assert sum(held[n_posts][: -(-n // 64)]) <= n_posts
        assert len(held[n_posts]) == -(-n_posts // 64) + -(-n // 64)
    assert max(max(h) for h in held.values()) <= 64
    assert len(held[2_000]) > 3 * len(held[500])  # more batches, not bigger ones


def test_memory_engine_of_the_library_matches_the_streaming_sink(small_demo, tmp_path) -> None:
    """``ingest.ingest`` (memory, one frame) and ``plan`` + ``sink_posts`` agree row for row."""
    dump = write_dump(tmp_path / "raw", small_demo.accounts, small_demo.posts, small_demo.reactions)
    eager = ingest(
        [Source("demo", read_source("canonical", dump))],
        KEY,
        set(),
        IngestParams(max_reject_share=0.5),
        PrivacyParams(),
        NOW,
    )
    tables = read_source("canonical", dump, lazy_text=True)
    params = IngestParams(engine="streaming", batch_rows=100, max_reject_share=0.5)
    res = plan([Source("demo", tables)], KEY, set(), params, PrivacyParams(), NOW)
    sink_posts(
        res.posts, [tables], res.names, tmp_path / "posts.parquet", 100, edits=res.text_edits
    )
    assert_frame_equal(pl.read_parquet(tmp_path / "posts.parquet"), eager.posts)
    for table in ("accounts", "reactions", "rejects"):
        assert_frame_equal(getattr(res, table), getattr(eager, table))
    assert res.counts == eager.counts
    schema.validate(eager.posts, "posts", schema.INTERIM)


def test_texts_stay_on_disk_only_where_parquet_holds_them_typed(small_demo, tmp_path) -> None:
    """CSV, and Parquet whose text column is not a string, are read whole (casts checked)."""
    posts = small_demo.posts.head(50)
    parquet = write_dump(tmp_path / "pq", small_demo.accounts, posts, small_demo.reactions)
    lazy = read_source("canonical", parquet, lazy_text=True)
    assert lazy.texts is not None
    assert read_source("canonical", parquet).texts is None  # the memory engine
    # the measures stay on disk with the texts, and come back a batch at a time, in row order
    measures = list(MEASURE_COLUMNS)
    assert (lazy.posts.select(pl.col(measures).null_count()).row(0)) == (50,) * len(measures)
    read_back = pl.concat(lazy.text_batches(7, CARRIED_COLUMNS))
    assert read_back["_row"].to_list() == list(range(50))
    assert_frame_equal(
        read_back.drop("_row"), schema.conform(posts, "posts").select(*CARRIED_COLUMNS)
    )
    assert posts["n_views"].null_count() < 50  # the demo reports views: something to carry
    # a measure of another type than the canonical one (a pandas export's float counts or
    # nanosecond times): the measures read whole, their casts checked; the texts stay on disk
    int32 = write_dump(
        tmp_path / "i32",
        small_demo.accounts,
        posts.with_columns(pl.col("n_views").cast(pl.Int32)),
        None,
    )
    mixed = read_source("canonical", int32, lazy_text=True)
    assert mixed.texts is not None and mixed.texts.columns == tuple(TEXT_COLUMNS)
    assert mixed.posts["n_views"].to_list() == posts["n_views"].to_list()
    assert mixed.posts["text"].null_count() == 50
    assert_frame_equal(
        pl.concat(mixed.text_batches(7, CARRIED_COLUMNS)).drop("_row"),
        schema.conform(posts, "posts").select(*CARRIED_COLUMNS),
    )
    csv = tmp_path / "csv"
    csv.mkdir()
    small_demo.accounts.write_csv(csv / "accounts.csv")
    posts.drop("labels").write_csv(csv / "posts.csv")
    assert read_source("canonical", csv, lazy_text=True).texts is None
    numeric = write_dump(
        tmp_path / "num", small_demo.accounts, posts.with_columns(pl.lit(7).alias("text")), None
    )
    tables = read_source("canonical", numeric, lazy_text=True)
    assert tables.texts is None and tables.posts["text"].to_list() == ["7"] * 50
