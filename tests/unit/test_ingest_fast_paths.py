"""The fast paths of ingest (issue 16) give exactly what their reference gives."""

from __future__ import annotations

import random
import re
import unicodedata

import numpy as np
import polars as pl
import pytest

from analysis import ingest, ingest_pseudonyms, privacy, schema


def test_roots_by_row_numbers_equal_the_python_walk_with_dangling_parents() -> None:
    rng = random.Random(16)
    for trial in range(400):
        n = rng.randint(1, 40)
        parents = [
            rng.choice([None, None, f"p{rng.randrange(n)}", f"gone{rng.randrange(3)}", f"p{i}"])
            for i in range(n)
        ]
        posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(n)], "parent_post_id": parents})
        posts = posts.sample(fraction=1.0, shuffle=True, seed=trial)
        assert ingest._roots(posts).to_list() == ingest._roots_python(posts).to_list(), parents


def test_roots_of_an_all_null_parent_column() -> None:
    posts = pl.DataFrame({"post_id": ["a", "b"], "parent_post_id": [None, None]})
    assert ingest._roots(posts).to_list() == ["a", "b"]


KEYS = [
    b"a-test-key-that-is-long-enough-0123456789",
    b"k" * 64,  # exactly one SHA-256 block
    b"k" * 100,  # longer than a block: hashed first, as hmac does
    "clé-ünïcode-0123456789-0123456789".encode(),
]
IDS = ["1", "", "é\u0301", "日本", "x" * 200, "a\x1fb", "\x00", "🙂" * 30]


@pytest.mark.parametrize("key", KEYS, ids=["ascii", "block", "long", "utf8"])
def test_digest_table_equals_one_hmac_per_id(key: bytes) -> None:
    ids = pl.Series(IDS)
    for kind, prefix in (("post", "post_"), ("account", "acct_")):
        table = privacy.digest_table(ids, key, "ns", kind, prefix)
        assert table["raw"].to_list() == ids.to_list()
        expected = [privacy.pseudonym(key, "ns", kind, r, prefix) for r in IDS]
        assert table["pseudonym"].to_list() == expected
        # the Rust route (text keys) and the Python route (any bytes) give the same digests
        python = privacy._digests_python(ids, key, "ns", kind, prefix)
        assert python.to_list() == expected


def test_digests_of_a_key_that_is_not_text_take_the_python_route(monkeypatch) -> None:
    key = bytes(range(200, 256)) + b"\xff" * 8  # not UTF-8: the plugin takes its key as text
    calls = []
    real = privacy._digests_python
    monkeypatch.setattr(
        privacy,
        "_digests_python",
        lambda *a: calls.append(1) or real(*a),  # type: ignore[func-returns-value]
    )
    table = privacy.digest_table(pl.Series(IDS), key, "ns", "post", "post_")
    assert calls == [1]
    assert table["pseudonym"].to_list() == [
        privacy.pseudonym(key, "ns", "post", r, "post_") for r in IDS
    ]


def test_digests_of_no_ids_and_the_key_in_no_message() -> None:
    key = b"SECRET-key-never-printed-0123456789abcdef"
    empty = privacy.digest_table(pl.Series([], dtype=pl.String), key, "ns", "post", "post_")
    assert empty.height == 0 and empty.schema["pseudonym"] == pl.String
    expr = pl.col("raw").chash.hmac_sha256(key=key.decode())
    plan = pl.DataFrame({"raw": ["1"]}).lazy().select(expr)
    assert "SECRET" not in plan.explain() and "SECRET" not in str(expr)
    with pytest.raises(pl.exceptions.ComputeError) as err:  # what a failing call would show
        pl.DataFrame({"raw": [1]}).select(expr)
    assert "SECRET" not in str(err.value)


def _ordinary_reference(posts: pl.DataFrame, names: list[str], min_authors: int) -> set[str]:
    """ordinary_words without its prefilters: every word of every text counted."""
    candidates = sorted({n for n in names if n and n.islower() and privacy.WORD.fullmatch(n)})
    words = (
        posts.select(
            "account_id",
            pl.col("text").str.to_lowercase().str.extract_all(privacy.ORDINARY_WORD).alias("w"),
        )
        .explode("w")
        .filter(pl.col("w").is_in(candidates))
        .unique()
        .group_by("w")
        .len()
        .filter(pl.col("len") >= min_authors)
    )
    return set(words["w"].to_list())


def test_ordinary_words_prefilter_changes_nothing() -> None:
    rng = random.Random(3)
    vocab = ["crash", "answer", "user_1", "nell2", "o'neil", "x-ray", "Google", "google", "ab"]
    names = [*vocab, "mark", "co-op", "zz_top"]
    texts = [
        " ".join(rng.choice([*vocab, "Crash!", "CO-OP", "mark's", "remark", "é"]) for _ in range(6))
        for _ in range(400)
    ]
    posts = pl.DataFrame({"account_id": [f"a{rng.randrange(40)}" for _ in texts], "text": texts})
    for min_authors in (1, 5, 10, 30):
        want = _ordinary_reference(posts, names, min_authors)
        assert privacy.ordinary_words(posts, names, min_authors) == want
    assert privacy.ordinary_words(posts, names, 5)  # the test has words to find


def test_the_pandas_aggregates_peer_computes_our_table() -> None:
    """The benchmark compares like with like: the pandas peer gives exactly our aggregates."""
    from datetime import UTC, datetime, timedelta

    from analysis.aggregates import account_month_aggregates
    from benchmarks.scale import pandas_aggregates

    rng = random.Random(7)
    n = 600
    accounts = [f"acct_{i}" for i in range(25)]
    posts = pl.DataFrame(
        {
            "platform": [rng.choice(["reddit", "stackexchange"]) for _ in range(n)],
            "created_at": [
                datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.uniform(0, 400))
                for _ in range(n)
            ],
            "account_id": [rng.choice(accounts) for _ in range(n)],
            "reply_to_account_id": [
                rng.choice([None, "acct_nonparticipant", *accounts]) for _ in range(n)
            ],
        }
    ).with_columns(pl.col("created_at").dt.cast_time_unit("us"))
    ours = account_month_aggregates(posts.lazy())
    peer = pl.from_pandas(pandas_aggregates(posts.to_pandas())).select(
        pl.col(c).cast(ours.schema[c]) for c in ours.columns
    )
    assert ours.height > 100 and ours["n_distinct_repliers"].max() > 1
    assert peer.equals(ours)


# --------------------------------------------------------------------------- names: ASCII paths

#: Names that stress every branch: format characters (zero-width joiner, soft hyphen, the
#: Mongolian vowel separator), look-alike letters, case, "@" handles, whitespace that Python
#: strips but Rust would not (\x1c-\x1f), names without letters, tabs and newlines between words.
TRICKY_NAMES = [
    "Ne\u200dll Trent",
    "ne\u00adll",
    "\u180emara",
    "\u0422\u043e\u043c",  # "Том" in Cyrillic
    "\u0422om",  # Cyrillic "Т" then Latin "om"
    "EDWIN DROOD",
    "Mark",
    "mark",
    "@alice@example.social",
    "  @@bob  ",
    "\x1c\x1dcarol\x1e\x1f",
    "dave\t \n smith",
    "...",
    "7777",
    "ab",
    "a@b",
    "zoë_ø",
    "Ｆｕｌｌｗｉｄｔｈ",
    "x\u2060y\u2060z",
    "o'brien-smith",
    "émile  zola",
    "",
]


def _strip_invisible_reference(text: str) -> str:
    return privacy.FORMAT_CHARS.sub("", text)


def _name_variants_reference(name: str, min_len: int = 3) -> set[str]:
    """privacy.name_variants as written before its ASCII fast path."""
    name = unicodedata.normalize("NFKC", _strip_invisible_reference(name)).strip().lstrip("@")
    variants = {name, name.split("@")[0].strip()} if name.count("@") == 1 else {name}
    return {v for v in variants if len(v) >= min_len and any(ch.isalpha() for ch in v)}


def _tokens_reference(value: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """privacy._tokens as written before (token spans, separators whitespace-collapsed)."""
    spans = [(m.start(), m.end()) for m in privacy.TOKEN.finditer(value)]
    toks = tuple(value[a:b] for a, b in spans)
    seps = tuple(
        re.sub(r"\s+", " ", value[spans[i][1] : spans[i + 1][0]]) for i in range(len(spans) - 1)
    )
    return toks, seps


def _skeleton_reference(text: str) -> str:
    return _strip_invisible_reference(unicodedata.normalize("NFKC", text)).translate(
        privacy.CONFUSABLES
    )


def test_no_look_alike_entry_touches_ascii() -> None:
    """The ASCII shortcuts of skeleton() and of the vectorised fold rest on this."""
    assert not [k for k in privacy.CONFUSABLES if chr(k).isascii()]


def test_name_helpers_equal_their_reference_on_tricky_and_random_names() -> None:
    rng = random.Random(16)
    alphabet = "aZ_9 .-@'\t\x1c\u200d\u00ad\u0422\u043e\u00e9\u2060\uff26\n"
    names = TRICKY_NAMES + [
        "".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(3000)
    ]
    for name in names:
        assert privacy.strip_invisible(name) == _strip_invisible_reference(name), repr(name)
        assert privacy.skeleton(name) == _skeleton_reference(name), repr(name)
        assert privacy.name_variants(name) == _name_variants_reference(name), repr(name)
        assert privacy._tokens(name) == _tokens_reference(name), repr(name)


def test_redactor_entries_are_those_of_the_per_name_reference() -> None:
    """NameRedactor built from tricky names holds the entries the reference steps give."""
    red = privacy.NameRedactor(TRICKY_NAMES)
    expected: dict[str, set] = {}
    for name in TRICKY_NAMES:
        for v in _name_variants_reference(name):
            # the name as written, then joined and re-separated (matched in any case)
            parts = re.findall(r"[^\W_]+", v)
            forms = (
                {sep.join(parts) for sep in (" ", ".", "-", "_", "")} if len(parts) > 1 else set()
            )
            # as a person is cited (two or more capitalised words), matched as written
            words = v.split()
            cited = set()
            if len(words) > 1 and all(w[0].isupper() for w in words):
                if words[-1][-1].isalpha() and words[-1][-1] not in "sS":
                    cited.add(" ".join(words) + "s")
                if len(words) == 2:
                    cited |= {f"{words[1]}, {words[0]}", f"{words[0][0]}. {words[1]}"}
            steps = [(v, False, False), *((f, True, False) for f in sorted(forms - {v}))]
            steps += [(f, True, True) for f in sorted(cited - {v})]
            for w, is_form, is_cited in steps:
                toks, seps = _tokens_reference(_skeleton_reference(w))
                joined = "".join(toks)
                if len(joined) < 3 or not any(ch.isalpha() for ch in joined):
                    continue
                cs = is_cited or (not is_form and len(toks) == 1 and not w.islower())
                key = toks if cs else tuple(t.casefold() for t in toks)
                expected.setdefault(toks[0].casefold(), set()).add((key, seps, cs))
    assert red.buckets() == expected
    assert red.redact("thanks Ne\u200dll  Trent and \u0422om, not mark") == (
        "thanks [user] and [user], not [user]"
    )


# --------------------------------------------------------------------------- pseudonyms by join


@pytest.mark.parametrize("prefix", ["post_", None])
def test_pseudonymise_lookup_equals_one_hmac_per_id_and_grows_the_table(prefix) -> None:
    """Text pseudonyms, or their numbers (``prefix`` None: how ingest holds the skeleton's
    accounts), the same as one HMAC per id; an id the table lacks is digested and added."""
    key = b"a-test-key-that-is-long-enough-0123456789"
    table = privacy.digest_table(pl.Series(["1", "2", "日本"]), key, "ns", "post", prefix)
    df = pl.DataFrame({"a": ["2", None, "1", "new", "new"], "b": ["日本", "other", None, "1", "2"]})
    for col in ("a", "b"):
        got, table = privacy.pseudonymise_lookup(df[col], table, key, "ns", "post", prefix)
        want = [
            None if v is None else privacy.pseudonym(key, "ns", "post", v, "post_")
            for v in df[col].to_list()
        ]
        text = got if prefix else privacy.numbers_as_text(got, "post_")
        assert got.name == col and text.to_list() == want
    assert sorted(table["raw"].to_list()) == sorted(["1", "2", "日本", "new", "other"])


def test_pseudonymise_lookup_a_slice_at_a_time_equals_the_whole_column(monkeypatch) -> None:
    """Looked up two ids at a time: an id first met in one slice is digested once, added to the
    table and found there by the next slices; every pseudonym is the scalar one."""
    monkeypatch.setattr(privacy, "LOOKUP_ROWS", 2)
    key = b"a-test-key-that-is-long-enough-0123456789"
    seed = privacy.digest_table(pl.Series(["1", "2"]), key, "ns", "post", "post_")
    col = ["new", None, "1", "new", "other", "2", "new", None, "other"]
    out, table = privacy.pseudonymise_lookup(pl.Series("a", col), seed, key, "ns", "post", "post_")
    want = [None if v is None else privacy.pseudonym(key, "ns", "post", v, "post_") for v in col]
    assert out.to_list() == want
    assert out.n_chunks() == 1  # the slices put back together in one chunk
    assert sorted(table["raw"].to_list()) == ["1", "2", "new", "other"]  # each digested once


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 100])
def test_pseudonyms_by_slices_equal_one_hmac_per_id(rows: int) -> None:
    """``pseudonymise_series`` and ``digest_column`` digest ``rows`` ids at a time: the same
    pseudonyms as one at a time, in order, nulls kept (a pseudonym is its id's alone)."""
    key = KEYS[0]
    ids = ["b", None, "a", "b", "日本", None, "a", "c", "b", "x" * 50, "a"]
    got = privacy.pseudonymise_series(pl.Series("p", ids), key, "ns", "post", "post_", rows)
    want = [None if v is None else privacy.pseudonym(key, "ns", "post", v, "post_") for v in ids]
    assert got.name == "p" and got.to_list() == want and got.n_chunks() == 1
    distinct = [v for v in dict.fromkeys(ids) if v is not None]
    column = privacy.digest_column(pl.Series(distinct), key, "ns", "post", "post_", rows)
    assert column.to_list() == [privacy.pseudonym(key, "ns", "post", v, "post_") for v in distinct]
    assert column.n_chunks() == 1
    empty = privacy.digest_column(pl.Series([], dtype=pl.String), key, "ns", "post", "post_", rows)
    assert empty.dtype == pl.String and empty.len() == 0


def test_sort_taking_equals_the_sort_and_takes_the_frame() -> None:
    rng = random.Random(58)
    for trial in range(50):
        n = rng.randint(0, 60)
        ids = rng.sample(range(1000), n)
        frame = pl.DataFrame(
            {
                "created_at": [rng.randrange(5) for _ in range(n)],
                "post_id": [f"p{i:04d}" for i in ids],
                "v": [rng.random() if rng.random() > 0.2 else None for _ in range(n)],
            },
            schema={"created_at": pl.Int64, "post_id": pl.String, "v": pl.Float64},
        )
        cut = rng.randint(0, n)  # two chunks, as a concatenation of dumps gives
        frame = pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)
        want = frame.sort("created_at", "post_id")
        got = ingest._sort_taking(frame, ("created_at", "post_id"))
        assert got.equals(want) and got.schema == want.schema, trial
        assert frame.width == 0  # taken: its columns were let go as they were gathered


def test_pseudonymise_takes_the_posts_frame_and_gives_each_id_its_scalar_pseudonym() -> None:
    """The posts' id columns are replaced in the frame handed over (each raw column let go as
    its pseudonyms are in): the frame returned is that frame, every id its scalar pseudonym
    (the posts' post and account ids as numbers, given back as text), nulls kept, the
    non-participant placeholder left as it is, the other columns untouched."""
    key = KEYS[0]
    ph = schema.NONPARTICIPANT_ID
    posts = pl.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "parent_post_id": [None, "p1", "p1", "gone"],
            "root_post_id": ["p1", "p1", "p1", "p4"],
            "account_id": ["a", "b", "a", "新"],
            "reply_to_account_id": [None, "a", ph, "stranger"],
            "n": [1, 2, 3, 4],
        }
    )
    raw = posts.clone()
    accounts = pl.DataFrame({"account_id": ["a", "b", "新"]})
    reactions = pl.DataFrame({"reaction_id": ["r1"], "post_id": ["p2"], "actor_account_id": [ph]})
    out, rx, acc = ingest_pseudonyms.pseudonymise(posts, reactions, accounts, key, "ns")
    assert out is posts  # taken, not copied

    def want(col: str, kind: str, prefix: str) -> list[str | None]:
        return [
            v if v is None or v == ph else privacy.pseudonym(key, "ns", kind, v, prefix)
            for v in raw[col].to_list()
        ]

    for col in ("post_id", "parent_post_id", "root_post_id"):  # numbers until the texts
        assert out.schema[col] == pl.UInt64, col
        text = privacy.numbers_as_text(out[col], privacy.POST_PREFIX)
        assert text.to_list() == want(col, "post", privacy.POST_PREFIX), col
    assert ingest_pseudonyms.ids_as_text(out)["post_id"].to_list() == want(
        "post_id", "post", privacy.POST_PREFIX
    )
    text = ingest_pseudonyms.ids_as_text(out)
    for col in ("account_id", "reply_to_account_id"):  # numbers too, the placeholder its own
        assert out.schema[col] == pl.UInt64, col
        assert text[col].to_list() == want(col, "account", privacy.ACCOUNT_PREFIX), col
    assert out["reply_to_account_id"][2] == ingest_pseudonyms.NONPARTICIPANT_NUMBER
    assert out.columns == raw.columns and out["n"].to_list() == [1, 2, 3, 4]
    assert text["reply_to_account_id"][2] == ph and rx["actor_account_id"].to_list() == [ph]
    assert acc["account_id"].to_list() == [
        privacy.pseudonym(key, "ns", "account", a, privacy.ACCOUNT_PREFIX) for a in "ab新"
    ]


def test_an_account_whose_pseudonym_spells_the_placeholders_number_is_refused(
    monkeypatch,
) -> None:
    """The non-participant placeholder is a number among the accounts' numbers; an account
    whose pseudonym spells it (one chance in 2**64) is refused, never merged into it."""
    key = KEYS[0]
    b = privacy.pseudonym(key, "ns", "account", "b", privacy.ACCOUNT_PREFIX)
    monkeypatch.setattr(
        ingest_pseudonyms, "NONPARTICIPANT_NUMBER", int(b[len(privacy.ACCOUNT_PREFIX) :], 16)
    )
    posts = pl.DataFrame(
        {
            "post_id": ["p1", "p2"],
            "parent_post_id": [None, "p1"],
            "root_post_id": ["p1", "p1"],
            "account_id": ["a", "b"],
            "reply_to_account_id": [None, "a"],
        }
    )
    accounts = pl.DataFrame({"account_id": ["a", "b"]})
    reactions = pl.DataFrame(
        {"reaction_id": [], "post_id": [], "actor_account_id": []},
        schema=dict.fromkeys(("reaction_id", "post_id", "actor_account_id"), pl.String),
    )
    with pytest.raises(RuntimeError, match="placeholder's number"):
        ingest_pseudonyms.pseudonymise(posts, reactions, accounts, key, "ns")


def test_pseudonyms_as_numbers_keep_their_text_and_their_order() -> None:
    """A pseudonym without its prefix is a number (16 hex digits: 64 bits): given back as the
    same text, nulls kept, a slice at a time or whole, and sorted as its text sorts."""
    key = KEYS[0]
    rng = random.Random(59)
    ids = [None if rng.random() < 0.2 else str(rng.randrange(10**6)) for _ in range(400)]
    text = privacy.pseudonymise_series(pl.Series("p", ids), key, "ns", "post", "post_")
    numbers = privacy.pseudonymise_series(pl.Series("p", ids), key, "ns", "post", None)
    assert numbers.dtype == pl.UInt64 and numbers.name == "p"
    for rows in (None, 1, 7):
        back = privacy.numbers_as_text(numbers, "post_", rows)
        assert back.name == "p" and back.to_list() == text.to_list(), rows
    edges = pl.Series("e", [0, 1, 2**63, 2**64 - 1, None], pl.UInt64)
    assert privacy.numbers_as_text(edges, "x_").to_list() == [
        "x_0000000000000000",
        "x_0000000000000001",
        "x_8000000000000000",
        "x_ffffffffffffffff",
        None,
    ]
    assert privacy.as_numbers(pl.Series(["ffffffffffffffff"])).to_list() == [2**64 - 1]
    frame = pl.DataFrame({"n": numbers, "t": text}).drop_nulls()
    assert frame.sort("n")["t"].to_list() == frame.sort("t")["t"].to_list()
    empty = privacy.numbers_as_text(pl.Series("e", [], pl.UInt64), "post_")
    assert empty.dtype == pl.String and empty.len() == 0


def test_pseudonymise_lookup_refuses_a_table_with_a_raw_id_twice() -> None:
    key = b"a-test-key-that-is-long-enough-0123456789"
    twice = privacy.digest_table(pl.Series(["1", "1"]), key, "ns", "post", "post_")
    with pytest.raises(RuntimeError, match="twice"):
        privacy.pseudonymise_lookup(pl.Series("a", ["1"]), twice, key, "ns", "post", "post_")


def test_skeleton_lengths_beside_the_posts_equal_the_join(monkeypatch) -> None:
    """Texts measured in row order are put beside the posts; in any other order, joined: the
    same skeleton either way."""
    from analysis import ingest_dump
    from analysis.sources.base import SourceTables
    from tests.unit.test_ingest import _tables

    tables = _tables()
    in_order = ingest_dump.skeleton(tables, batch_rows=2)
    batches = list(tables.text_batches(2, ingest_dump._SKELETON_READS))
    assert len(batches) > 1
    monkeypatch.setattr(
        SourceTables, "text_batches", lambda self, n=None, columns=(): iter(batches[::-1])
    )
    joined = ingest_dump.skeleton(tables, batch_rows=2)
    assert in_order.equals(joined)
    assert in_order["_text_chars"].to_list() == [
        None if t is None else len(t) for t in tables.posts["text"].to_list()
    ]


def test_the_redactor_is_built_without_the_cyclic_collector_and_sets_it_back(
    monkeypatch,
) -> None:
    """The build's millions of tuples hold no cycle: the collector is paused while they are
    made (its passes were a third of the build at 100k names) and set back as it was, also
    when the build fails."""
    import gc

    from analysis import names

    seen_enabled: list[bool] = []
    real_add = names.NameRedactor._add

    def spy(self, *args, **kwargs):
        seen_enabled.append(gc.isenabled())
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(names.NameRedactor, "_add", spy)
    assert gc.isenabled()
    red = privacy.NameRedactor(["Ada Quill", "nell_trent"])
    assert red.redact("thanks Ada Quill and nell.trent") == "thanks [user] and [user]"
    assert seen_enabled and not any(seen_enabled)
    assert gc.isenabled()  # set back
    gc.disable()
    try:
        privacy.NameRedactor(["Ada Quill"])
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()

    def boom(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(names.NameRedactor, "_add", boom)
    with pytest.raises(RuntimeError, match="boom"):
        privacy.NameRedactor(["Ada Quill"])
    assert gc.isenabled()


def test_overlapping_pauses_of_the_collector_end_with_it_set_back() -> None:
    """The collector is process-wide: a pause begun on one thread while another is in progress
    (a build left running by a failed ingest, then a retry) must neither switch it back on
    while one is still going nor leave it off after both."""
    import gc
    import threading

    from analysis.names import without_cyclic_gc

    assert gc.isenabled()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    states: dict[str, bool] = {}

    def first() -> None:
        with without_cyclic_gc():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second() -> None:
        a_in.wait(5)
        with without_cyclic_gc():
            b_in.set()
            a_out.wait(5)
            states["after the first ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert states == {"after the first ended": False}
    assert gc.isenabled()


def _self_votes_reference(reactions: pl.DataFrame, posts: pl.DataFrame):
    """``ingest_checks._self_votes`` as it was: every reaction joined to every post's author."""
    from analysis.ingest_checks import IMPOSSIBLE_SELF_REACTIONS

    rules = pl.DataFrame(
        [(p, k) for p, kinds in IMPOSSIBLE_SELF_REACTIONS.items() for k in sorted(kinds)],
        schema={"platform": pl.String, "kind": pl.String},
        orient="row",
    ).with_columns(pl.lit(True).alias("_impossible"))
    author = posts.select("post_id", pl.col("account_id").alias("_author"))
    marked = reactions.join(author, on="post_id", how="left", maintain_order="left").join(
        rules, on=["platform", "kind"], how="left", maintain_order="left"
    )
    own = (
        pl.col("_impossible").fill_null(False) & (pl.col("actor_account_id") == pl.col("_author"))
    ).fill_null(False)
    return marked.filter(~own).drop("_author", "_impossible"), marked.filter(own)


@pytest.mark.parametrize("seed", range(6))
def test_self_votes_looked_up_for_the_ruled_reactions_alone_are_the_same(seed) -> None:
    """The authors are looked up for the posts that reactions a rule forbids are on, not joined
    to every reaction from a table of every post: the same rows kept, in order, and rejected."""
    from analysis import ingest_checks

    rng = np.random.default_rng(seed)
    n_posts, n_rx = int(rng.integers(1, 40)), int(rng.integers(0, 80))
    posts = pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n_posts)],
            "account_id": [f"a{rng.integers(0, 6)}" for _ in range(n_posts)],
        }
    )
    maybe = lambda v: None if rng.random() < 0.1 else v  # noqa: E731
    reactions = pl.DataFrame(
        {
            "reaction_id": [f"r{i}" for i in range(n_rx)],
            "platform": [
                maybe(str(rng.choice(["stackexchange", "hackernews", "demo"]))) for _ in range(n_rx)
            ],
            "post_id": [maybe(f"p{rng.integers(0, n_posts + 3)}") for _ in range(n_rx)],
            "kind": [
                str(rng.choice(["upvote", "downvote", "like", "favourite"])) for _ in range(n_rx)
            ],
            "actor_account_id": [maybe(f"a{rng.integers(0, 6)}") for _ in range(n_rx)],
            "source_file": ["votes.xml"] * n_rx,
            "source_line": list(range(1, n_rx + 1)),
        },
        schema_overrides={
            "platform": pl.String,
            "post_id": pl.String,
            "actor_account_id": pl.String,
        },
    )
    keep, rejects = ingest_checks._self_votes(reactions, posts)
    ref_keep, ref_bad = _self_votes_reference(reactions, posts)
    assert keep.equals(ref_keep)
    got_bad = pl.concat(rejects) if rejects else None
    if ref_bad.height:
        assert got_bad is not None
        assert got_bad["record_key"].to_list() == ref_bad["reaction_id"].to_list()
        assert got_bad["source_line"].to_list() == ref_bad["source_line"].to_list()
    else:
        assert got_bad is None
