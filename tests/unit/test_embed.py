"""Embedding logic: content-addressed cache (counting fake encoder), shapes, empty texts, and a
smoke test of the real packaged model."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from analysis import embed_cache
from analysis.embed import DIM, embed_posts, encode_texts
from analysis.embed_cache import EmbeddingCache, text_key, text_keys
from analysis.embed_models import MIN_BATCH_TOKENS, length_batches, model_encoder


class CountingEncoder:
    """Deterministic fake: a unit vector derived from the text's hash; counts texts encoded."""

    def __init__(self) -> None:
        self.n_texts = 0
        self.calls: list[int] = []

    def __call__(self, texts):
        self.n_texts += len(texts)
        self.calls.append(len(texts))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(DIM)
            out[i] = v / np.linalg.norm(v)
        return out


def _posts(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": [f"post_{i}" for i in range(start, start + n)],
            "text": [
                f"post number {i} about {'coffee' if i % 2 else 'bikes'}"
                for i in range(start, start + n)
            ],
        }
    )


def test_cache_reencodes_only_new_posts(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path, "fake", "1")
    base = _posts(1000)
    out1, st1 = embed_posts(base, enc, cache, batch_size=64)
    assert enc.n_texts == 1000 and st1.n_encoded == 1000 and st1.n_cached == 0
    grown = pl.concat([base, _posts(10, start=1000)])  # +1 % new posts
    out2, st2 = embed_posts(grown, enc, cache, batch_size=64)
    assert st2.n_encoded == 10 and st2.n_cached == 1000
    assert enc.n_texts == 1010  # exactly the new ones were encoded
    same = out2.head(1000)
    assert np.array_equal(same["embedding"].to_numpy(), out1["embedding"].to_numpy())
    # a third run encodes nothing
    _, st3 = embed_posts(grown, enc, cache)
    assert st3.n_encoded == 0 and enc.n_texts == 1010


def test_two_writers_of_the_same_shard_at_once_both_land_it(tmp_path, monkeypatch):
    """Two processes filling one cache with the same texts (the project's CI: two test workers
    embedding one real site) write the same shard at once; each renames a whole file of its
    own. Here the second writer runs inside the first one's write, between its temporary file
    and its rename: with a fixed temporary name the second renamed the first's file away."""
    keys = [text_key(f"text {i}") for i in range(5)]
    vectors = CountingEncoder()([f"text {i}" for i in range(5)])
    first, second = EmbeddingCache(tmp_path, "fake", "1"), EmbeddingCache(tmp_path, "fake", "1")
    write = pl.DataFrame.write_parquet
    nested: list[object] = []
    calls: list[str] = []

    def interleaved(self, file, *args, **kwargs):
        calls.append(str(file))
        write(self, file, *args, **kwargs)
        if len(calls) == 1:  # the first writer's file is written, not yet renamed
            nested.append(second.store(keys, vectors))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", interleaved)
    path = first.store(keys, vectors)
    monkeypatch.undo()
    assert nested == [path] and path is not None
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left
    got = pl.read_parquet(path)
    assert got["text_sha256"].to_list() == keys
    assert np.array_equal(got["embedding"].to_numpy(), vectors)
    assert first.keys() == set(keys)


def test_a_failed_shard_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(self, file, *args, **kwargs):
        Path(file).write_bytes(b"half a shard")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        EmbeddingCache(tmp_path, "fake", "1").store(["k"], np.zeros((1, DIM), np.float32))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_prune_removes_the_temporary_shards_a_killed_run_left(tmp_path):
    """A run killed between its write and its rename leaves a temporary shard of its own name:
    it holds vectors (and keys) of texts an erasure must remove too."""
    from analysis.io import private_temporary

    cache = EmbeddingCache(tmp_path, "fake", "1")
    kept = cache.store([text_key("kept")], CountingEncoder()(["kept"]))
    assert kept is not None
    left = private_temporary(cache.folder / "shard-0123.parquet")
    left.write_bytes(b"vectors of a text since erased")
    cache.prune([text_key("kept")])
    assert sorted(p.name for p in cache.folder.iterdir()) == [kept.name]


def test_cache_lookup_reads_vectors_only_from_row_groups_with_a_hit(tmp_path, monkeypatch):
    """Same answer as reading every shard (a key in two shards: the first shard in sorted
    order wins; a key twice in a shard: its first row); the vectors are read from the row
    groups holding a hit only."""
    cache = EmbeddingCache(tmp_path, "fake", "1")
    keys = [f"{i:064x}" for i in range(40)]
    rng = np.random.default_rng(3)
    paths = [
        cache.store(keys[i : i + 10], rng.standard_normal((10, DIM)).astype(np.float32))
        for i in (0, 10, 20, 30)
    ]
    dup = cache.store([keys[5], keys[35]], rng.standard_normal((2, DIM)).astype(np.float32))
    every = pl.concat([pl.read_parquet(p) for p in sorted([*paths, dup])])
    first = every.unique("text_sha256", keep="first", maintain_order=True)
    reference = dict(zip(first["text_sha256"], first["embedding"].to_numpy(), strict=True))

    scanned: list[list[str]] = []
    real_scan = pl.scan_parquet
    monkeypatch.setattr(
        pl,
        "scan_parquet",
        lambda src, **kw: scanned.append(sorted(map(str, src))) or real_scan(src, **kw),
    )
    read: list[str] = []
    real_read = embed_cache._row_groups
    monkeypatch.setattr(
        embed_cache,
        "_row_groups",
        lambda src, rows: read.append(str(src)) or real_read(src, rows),
    )
    wanted = [keys[5], keys[12], keys[35], "f" * 64]
    got = cache.lookup(wanted)
    assert sorted(got) == sorted(wanted[:3])
    for k, v in got.items():
        assert np.array_equal(v, reference[k]), k
    shards = sorted(str(p) for p in [*paths, dup])
    holding = {p for p in shards if set(pl.read_parquet(p)["text_sha256"]) & set(wanted)}
    assert scanned == [[s] for s in shards]  # the keys of every shard, then
    assert read and set(read) <= holding and len(read) < len(shards)  # the vectors of a few
    assert cache.lookup(["e" * 64]) == {}
    assert len(scanned) == len(shards)  # the keys were kept: no shard's keys read again

    # the arrays the embed stage takes: a flag per key (in order, repeats too) and their rows
    asked = [keys[35], "f" * 64, keys[5], keys[35]]
    found, matrix = cache.vectors(pl.Series(asked), DIM)
    assert found.tolist() == [True, False, True, True] and matrix.dtype == np.float32
    for row, k in zip(matrix, asked, strict=True):
        assert np.array_equal(row, reference.get(k, np.zeros(DIM))), k

    # row groups of 2 rows, a key twice in one shard: its first row, as one read gives
    monkeypatch.setattr(embed_cache, "SHARD_GROUP_ROWS", 2)
    ab_bc = ["b" * 64, "a" * 64, "b" * 64, "c" * 64]  # "b" in both row groups of 2 rows
    twice = cache.store(ab_bc, rng.standard_normal((4, DIM)).astype("f4"))
    assert pq.ParquetFile(twice).metadata.num_row_groups == 2
    every = pl.concat([pl.read_parquet(p) for p in sorted([*paths, dup, twice])])
    first = every.unique("text_sha256", keep="first", maintain_order=True)
    reference = dict(zip(first["text_sha256"], first["embedding"].to_numpy(), strict=True))
    asked = [*keys[::3], "a" * 64, "b" * 64, "c" * 64, keys[7], "f" * 64]
    found, matrix = cache.vectors(pl.Series(asked), DIM)
    assert found.tolist() == [k in reference for k in asked]
    for row, k in zip(matrix, asked, strict=True):
        assert np.array_equal(row, reference.get(k, np.zeros(DIM))), k

    # a shard of ten row groups: a lookup of two keys of one group reads that group alone
    groups: list[list[int]] = []
    real_group = pq.ParquetFile.iter_batches
    monkeypatch.setattr(
        pq.ParquetFile,
        "iter_batches",
        lambda self, **kw: groups.append(kw["row_groups"]) or real_group(self, **kw),
    )
    many = [f"{i:064x}" for i in range(100, 120)]
    vectors = rng.standard_normal((20, DIM)).astype("f4")
    cache.store(many, vectors)
    found, matrix = cache.vectors(pl.Series([many[14], "f" * 64, many[15]]), DIM)
    assert found.tolist() == [True, False, True] and groups == [[7]]
    assert np.array_equal(matrix[[0, 2]], vectors[[14, 15]])
    # an older shard's row group of many rows is read a few rows at a time, the same vectors
    monkeypatch.setattr(embed_cache, "SHARD_GROUP_ROWS", 25)
    older = [f"{i:064x}" for i in range(200, 225)]
    wide = rng.standard_normal((25, DIM)).astype("f4")
    assert pq.ParquetFile(cache.store(older, wide)).metadata.num_row_groups == 1
    monkeypatch.setattr(embed_cache, "SHARD_GROUP_ROWS", 3)
    found, matrix = cache.vectors(pl.Series([*older[::-2], "f" * 64]), DIM)
    assert found.tolist() == [True] * 13 + [False]
    assert np.array_equal(matrix[:13], wide[::-2])


def test_cache_is_keyed_by_model_and_revision(tmp_path):
    enc = CountingEncoder()
    posts = _posts(5)
    embed_posts(posts, enc, EmbeddingCache(tmp_path, "fake", "1"))
    embed_posts(posts, enc, EmbeddingCache(tmp_path, "fake", "2"))
    assert enc.n_texts == 10


def test_duplicates_encoded_once_and_order_kept(tmp_path):
    enc = CountingEncoder()
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "text": ["same text", "a much longer text than the others here", "same text", "x"],
        }
    )
    out, st = embed_posts(posts, enc, None, batch_size=2)
    assert enc.n_texts == 3 and st.n_unique_texts == 3
    assert out["post_id"].to_list() == ["a", "b", "c", "d"]
    m = out["embedding"].to_numpy()
    assert np.array_equal(m[0], m[2])
    assert np.allclose(m[1], enc(["a much longer text than the others here"])[0])


def test_shapes_dtypes_and_empty_texts(tmp_path):
    posts = pl.DataFrame({"post_id": ["a", "b", "c", "d"], "text": ["hello", None, "   ", "world"]})
    out, st = embed_posts(posts, CountingEncoder(), EmbeddingCache(tmp_path, "fake", "1"))
    assert out.schema["embedding"] == pl.Array(pl.Float32, DIM)
    assert out.schema["is_empty_text"] == pl.Boolean
    assert out["is_empty_text"].to_list() == [False, True, True, False]
    assert out["embedding"].is_null().to_list() == [False, True, True, False]
    assert st.n_empty == 2 and st.n_encoded == 2


def test_encode_texts_sorts_by_length_but_returns_input_order():
    enc = CountingEncoder()
    texts = ["bb", "a", "cccccc", "dddd"]
    out = encode_texts(texts, enc, batch_size=2)
    assert out.dtype == np.float32 and out.shape == (4, DIM)
    assert np.allclose(out, enc(texts))
    assert encode_texts([], enc).shape == (0, DIM)


def test_text_key_is_sha256():
    assert text_key("abc") == hashlib.sha256(b"abc").hexdigest()


def test_bad_encoder_is_an_error():
    with pytest.raises(RuntimeError, match="vectors for"):
        encode_texts(["a", "b"], lambda ts: np.zeros((1, DIM), np.float32))


def test_real_model_smoke_and_cache(embedding_model, tmp_path):
    texts = [
        "How do I dial in my espresso grinder?",
        "My espresso tastes sour, grind finer?",
        "Which chainring for a gravel bike?",
        "Tubeless tyre keeps losing air",
        "Hello",
    ]
    posts = pl.DataFrame({"post_id": list("abcde"), "text": texts})
    enc = model_encoder(embedding_model, batch_size=4)
    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2", "test")
    out, _st = embed_posts(posts, enc, cache)
    m = out["embedding"].to_numpy()
    assert m.shape == (5, DIM) and m.dtype == np.float32
    assert np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-4)
    assert m[0] @ m[1] > m[0] @ m[2]  # coffee closer to coffee than to bikes
    calls = []
    counted = lambda ts: (calls.append(len(ts)), enc(ts))[1]  # noqa: E731
    posts2 = pl.concat(
        [posts, pl.DataFrame({"post_id": ["f"], "text": ["Best light-roast beans?"]})]
    )
    out2, st2 = embed_posts(posts2, counted, cache)
    assert st2.n_encoded == 1 and sum(calls) == 1
    assert np.array_equal(out2["embedding"].to_numpy()[:5], m)  # the cached bits, exactly


def test_prune_keeps_only_the_given_texts(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path, "fake", "1")
    posts = _posts(40)
    out, _ = embed_posts(posts.head(20), enc, cache)
    embed_posts(posts, enc, cache)  # a second shard
    keep = [text_key(t) for t in posts["text"].head(10)]
    assert cache.prune(keep) == 30
    assert cache.keys() == set(keep)
    assert len(list(cache.folder.glob("shard-*.parquet"))) == 1
    again, st = embed_posts(posts.head(10), enc, cache)  # survivors still serve, unchanged
    assert st.n_cached == 10 and st.n_encoded == 0
    assert np.array_equal(again["embedding"].to_numpy(), out.head(10)["embedding"].to_numpy())
    assert cache.prune(keep) == 0  # nothing left to remove
    assert cache.prune([]) == 10 and cache.keys() == set()


def test_the_key_set_compares_every_word_of_a_key():
    """Membership is exact: keys sharing their first 64-bit word (searched on) are told apart
    by the others, a later key of the same first word is found, and what is not a 64-digit
    hex key is in no set; the same answer as a Python set on keys crowded onto a few first
    words."""
    head = "0" * 16
    k1, k2, k3 = head + "1" * 48, head + "2" * 48, head + "3" * 48
    kept = embed_cache.KeySet(embed_cache.compact_keys([k3, k1, k1, "f" * 64, "not hex"]))
    assert len(kept) == 3  # the repeat and the malformed key are dropped
    asked = embed_cache.compact_keys([k1, k2, k3, "f" * 64, "e" * 64, "not hex", k1[:-1]])
    assert kept.contains(asked).tolist() == [True, False, True, True, False, False, False]
    # only lowercase digits are a key: upper case or a sign would alias another text's key
    aliases = embed_cache.compact_keys([k1.replace("1", "A"), "F" * 64, "+" + "f" * 63])
    assert aliases.null_count().row(0) == (3, 3, 3, 3)
    # signed words are compared as the unsigned ones (numpy would compare them as floats)
    a, b = "0123456789abcdef" + "1" * 48, "0123456789abcdee" + "1" * 48
    signed = embed_cache.compact_keys([b, a]).cast(pl.Int64)
    assert embed_cache.KeySet(embed_cache.compact_keys([a])).contains(signed).tolist() == [
        False,
        True,
    ]

    rng = np.random.default_rng(5)
    firsts = [f"{w:016x}" for w in rng.integers(0, 2**62, size=4)]
    every = [
        firsts[rng.integers(4)] + "".join(rng.choice(list("0123456789abcdef"), size=48))
        for _ in range(600)
    ]
    members = set(every[::2])
    got = embed_cache.KeySet(embed_cache.compact_keys(every[::2])).contains(
        embed_cache.compact_keys(every)
    )
    assert got.tolist() == [k in members for k in every]
    empty = embed_cache.KeySet(embed_cache.compact_keys([]))
    assert empty.contains(asked).tolist() == [False] * 7


def test_the_cache_tells_apart_keys_of_the_same_first_word(tmp_path):
    """A lookup joins on the first word, then compares them all: a key sharing only the first
    word of a cached one is not served its vector; a prune keeps the one and removes the
    other, and removes keys that are not digests (they match nothing)."""
    head = "a" * 16
    cached, other = head + "1" * 48, head + "2" * 48
    cache = EmbeddingCache(tmp_path, "fake", "1")
    vectors = np.arange(3 * DIM, dtype=np.float32).reshape(3, DIM)
    cache.store([cached, other, "not a digest"], vectors)
    found, matrix = cache.vectors(pl.Series([other + "", head + "3" * 48, cached]), DIM)
    assert found.tolist() == [True, False, True]
    assert np.array_equal(matrix[[0, 2]], vectors[[1, 0]])
    assert cache.prune([cached]) == 2
    assert cache.keys() == {cached}
    found, _ = cache.vectors(pl.Series([other, cached]), DIM)
    assert found.tolist() == [False, True]


def test_prune_reads_only_the_shards_it_changes(tmp_path, monkeypatch):
    """Nothing to remove: no shard is read whole; something to remove: only its shard is read
    and replaced, the others stay as they were (file and bytes)."""
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path, "fake", "1")
    posts = _posts(30)
    for i in (0, 10, 20):
        embed_posts(posts.slice(i, 10), enc, cache)  # three shards
    before = {p.name: p.read_bytes() for p in cache.folder.glob("shard-*.parquet")}
    read: list[str] = []
    real_read = pl.read_parquet
    monkeypatch.setattr(
        pl, "read_parquet", lambda src, **kw: read.append(str(src)) or real_read(src, **kw)
    )
    every = [text_key(t) for t in posts["text"]]
    assert cache.prune(every) == 0 and read == []
    assert cache.prune(every[:25]) == 5  # the last shard loses half its texts
    assert len(read) == 1
    after = {p.name: p.read_bytes() for p in cache.folder.glob("shard-*.parquet")}
    assert len(after) == 3 and len(set(after) & set(before)) == 2
    assert all(after[n] == before[n] for n in set(after) & set(before))
    assert cache.keys() == set(every[:25])


def test_text_keys_are_text_key_of_every_text() -> None:

    texts = ["abc", "", "é\u0301 日本 🙂", "x" * 5_000, "a\x00b"]
    assert text_keys(pl.Series(texts)).to_list() == [text_key(t) for t in texts]


def test_embed_stage_prunes_the_cache_when_the_opt_out_list_changes(tmp_path):
    from analysis.stages.embed import prune_after_erasure

    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "cache", "fake", "1")
    opt_out = tmp_path / "opt_out.txt"
    posts = _posts(30)
    embed_posts(posts, enc, cache)
    assert prune_after_erasure(cache, posts, opt_out) == 0  # no list yet: nothing to do
    opt_out.write_text("d" * 64 + "\n")  # someone opted out; ingest dropped their 5 posts
    remaining = posts.tail(25)
    assert prune_after_erasure(cache, remaining, opt_out) == 5
    assert cache.keys() == {text_key(t) for t in remaining["text"]}
    embed_posts(_posts(3, start=100), enc, cache)  # other texts cached since: kept while the
    assert prune_after_erasure(cache, remaining, opt_out) == 0  # list stays the same
    assert len(cache.keys()) == 28


def test_embed_stage_prunes_the_cache_when_a_later_minor_flag_removes_someone(tmp_path):
    """Issue 13 item 5: a later is_minor flag removes posts without touching the opt-out list."""
    from analysis.stages.embed import prune_after_erasure

    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "cache", "fake", "1")
    opt_out = tmp_path / "absent.txt"
    posts = _posts(30)
    embed_posts(posts, enc, cache)
    assert prune_after_erasure(cache, posts, opt_out, "digest-of-nobody") == 30 - 30
    remaining = posts.tail(26)  # the minor's 4 posts are gone; the opt-out list is unchanged
    assert prune_after_erasure(cache, remaining, opt_out, "digest-with-the-minor") == 4
    assert cache.keys() == {text_key(t) for t in remaining["text"]}


def test_an_erasure_prunes_the_cache_of_every_route_not_only_this_runs(tmp_path):
    """The static route above a size, an ONNX route or an older revision keep their vectors in
    folders of their own: an erasure prunes all of them, whichever route this run uses."""
    from analysis.stages.embed import prune_after_erasure

    enc = CountingEncoder()
    now = EmbeddingCache(tmp_path / "cache", "fake", "1")
    other = EmbeddingCache(tmp_path / "cache", "org/fake", "1+static")
    opt_out = tmp_path / "opt_out.txt"
    posts = _posts(30)
    embed_posts(posts, enc, now)
    embed_posts(posts, enc, other)
    assert prune_after_erasure(now, posts, opt_out) == 0
    opt_out.write_text("d" * 64 + "\n")
    remaining = posts.tail(25)
    assert prune_after_erasure(now, remaining, opt_out) == 10  # 5 texts in each folder
    want = {text_key(t) for t in remaining["text"]}
    assert now.keys() == want and other.keys() == want
    assert prune_after_erasure(now, remaining, opt_out) == 0  # both folders marked


def test_the_stage_writes_the_same_table_chunk_by_chunk(tmp_path):
    """Above ``CHUNK_POSTS`` the embed stage encodes and appends chunk by chunk (bounded memory):
    the same rows in the same order as one call, empty texts and repeats across chunks included."""
    from analysis.stages.embed import embed_in_chunks

    posts = pl.concat([_posts(50), _posts(50)]).with_columns(  # every text twice, 50 apart
        post_id=pl.format("p{}", pl.int_range(pl.len())),
        text=pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise(pl.col("text")),
    )
    whole, st_whole = embed_posts(posts, CountingEncoder(), None)
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "cache", "fake", "1")
    stats = embed_in_chunks(
        posts, lambda part: embed_posts(part, enc, cache), tmp_path / "e.parquet", chunk_posts=30
    )
    got = pl.read_parquet(tmp_path / "e.parquet")
    assert got.equals(whole)
    assert got.schema == whole.schema
    assert stats.n_posts == posts.height and stats.n_empty == st_whole.n_empty
    # the second copy of each text came from the cache the first chunks filled
    assert enc.n_texts == st_whole.n_unique_texts
    assert stats.n_encoded == st_whole.n_unique_texts
    one = embed_in_chunks(
        posts, lambda part: embed_posts(part, enc, None), tmp_path / "one.parquet", 10**6
    )
    assert pl.read_parquet(tmp_path / "one.parquet").equals(whole) and one.n_posts == posts.height
    # polars' sink fed chunk by chunk writes the file one call writes, byte for byte
    assert (tmp_path / "e.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_chunk_that_fails_leaves_no_table(tmp_path):
    """An error in a later chunk (raised inside polars' sink) reaches the caller as itself and
    leaves neither the table nor a half-written temporary file."""
    from analysis.stages.embed import embed_in_chunks

    posts = _posts(50)
    calls = []

    def embed(part):
        calls.append(part.height)
        if len(calls) == 3:
            raise RuntimeError("encoder died in chunk 3")
        return embed_posts(part, CountingEncoder(), None)

    with pytest.raises(RuntimeError, match="encoder died in chunk 3"):
        embed_in_chunks(posts, embed, tmp_path / "e.parquet", chunk_posts=20)
    assert calls == [20, 20, 10]
    assert not list(tmp_path.iterdir())


def test_length_batches_exact_holds_one_length_per_batch() -> None:
    lengths = np.array([5, 9, 5, 5, 9, 1, 5, 7])
    loose = length_batches(lengths, 3)
    assert [lengths[b].tolist() for b in loose] == [[9, 9, 7], [5, 5, 5], [5, 1]]
    exact = length_batches(lengths, 3, exact=True)
    assert [b.tolist() for b in exact] == [[1, 4], [7], [0, 2, 3], [6], [5]]
    assert sorted(np.concatenate(exact).tolist()) == list(range(8))
    assert length_batches(np.zeros(0, dtype=int), 3, exact=True) == []


def _sentences(n: int) -> list[str]:
    """Texts of 3 to ~60 tokens, several of each length (so batches of one length vary)."""
    rng = np.random.default_rng(7)
    words = [
        "hop",
        "malt",
        "yeast",
        "barrel",
        "stout",
        "lager",
        "ale",
        "cask",
        "bottle",
        "pour",
        "foam",
        "bitter",
        "sour",
        "dry",
    ]
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) for _ in range(n)]


def test_a_text_gets_the_same_bits_in_any_batch(embedding_model) -> None:
    """Padding and the batch's shape moved a vector's last bits (~1e-7) with its batchmates;
    batches of one token length, topped up to MIN_BATCH_TOKENS, make each vector a function of
    its text alone: the whole set, a shuffled third in small batches and each text alone agree
    bit for bit."""
    texts = [*_sentences(60), "Hello", "ok", "What yeast for a saison?"]
    enc = model_encoder(embedding_model, batch_size=16)
    whole = encode_texts(texts, enc, batch_size=16)
    lengths = enc.token_lengths(texts)
    assert lengths.min() * 2 < MIN_BATCH_TOKENS  # some forward passes are topped up
    assert len(set(lengths.tolist())) > 20
    rng = np.random.default_rng(3)
    some = rng.permutation(len(texts))[:31]
    part = encode_texts([texts[i] for i in some], model_encoder(embedding_model, 5), 5)
    assert np.array_equal(part, whole[some])
    alone = np.concatenate([enc([texts[i]]) for i in some[:8]])
    assert np.array_equal(alone, whole[some[:8]])
    mixed = enc([texts[i] for i in some])  # one call of mixed lengths: regrouped inside
    assert np.array_equal(mixed, whole[some])
    assert np.allclose(np.linalg.norm(whole, axis=1), 1, atol=1e-5)


def test_warm_and_cold_caches_write_the_same_bits(embedding_model, tmp_path) -> None:
    """The incremental run (most vectors from the cache, encoded in other batches) gives the
    table a cold run gives: embeddings are a function of the posts and the params."""
    texts = _sentences(40)
    posts = pl.DataFrame({"post_id": [f"p{i}" for i in range(40)], "text": texts})
    enc = model_encoder(embedding_model, batch_size=8)
    cold, _ = embed_posts(posts, enc, EmbeddingCache(tmp_path / "cold", "m", "1"), batch_size=8)
    warm_cache = EmbeddingCache(tmp_path / "warm", "m", "1")
    embed_posts(posts.sample(fraction=0.5, seed=1), enc, warm_cache, batch_size=8)
    embed_posts(posts.tail(7), enc, warm_cache, batch_size=8)
    warm, st = embed_posts(posts, enc, warm_cache, batch_size=8)
    assert 0 < st.n_encoded < st.n_cached
    assert warm.equals(cold)


def test_the_thread_count_does_not_change_the_bits(embedding_model) -> None:
    """MKL splits a matrix product over threads in a way that rounds long texts differently
    (44 of 400 beer comments between 1 and 2 threads): the encoder runs each forward pass on one
    thread and ``threads`` passes at once, so every thread count writes the bits of one thread.
    Fails where a pass runs on two torch threads (the texts are long enough to differ)."""
    import torch

    rng = np.random.default_rng(11)
    words = ["hop", "malt", "yeast", "barrel", "stout", "lager", "ale", "cask", "bottle", "pour"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(90, 240)))) for _ in range(24)]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # the caller's own count is not the passes' count
        by_threads = {
            n: encode_texts(texts, model_encoder(embedding_model, 8, threads=n), 8)
            for n in (1, 2, 3)
        }
        torch.set_num_threads(1)
        reference = np.vstack(
            [embedding_model.encode([t], normalize_embeddings=True) for t in texts]
        )
        torch.set_num_threads(2)
        two_torch_threads = np.vstack(
            [embedding_model.encode([t], normalize_embeddings=True) for t in texts]
        )
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(by_threads[1], by_threads[2])
    assert np.array_equal(by_threads[1], by_threads[3])
    assert np.array_equal(by_threads[1], reference)  # one text alone, on one thread
    if np.array_equal(reference, two_torch_threads):  # the premise, true on the CPUs measured
        pytest.skip("two threads in one pass round these texts as one does on this machine")


def _dated(n: int, start: int = 0) -> pl.DataFrame:
    """``_posts`` over three months (a post every 2 days from 2024-01-01), in file order."""
    from analysis.stages.embed import file_order

    return file_order(
        _posts(n, start).with_columns(
            created_at=pl.datetime(2024, 1, 1, time_zone="UTC")
            + pl.duration(days=2 * pl.int_range(start, start + n))
        )
    )


def _parts_bytes(folder) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def _recording(fail_at: list[int] | None = None):
    """``(seen, embed)``: an ``embed`` for ``embed_by_month`` (the fake encoder, no cache) that
    appends each call's post count to ``seen`` and raises at call number ``fail_at[0]``."""
    seen: list[int] = []

    def embed(part):
        seen.append(part.height)
        if fail_at and len(seen) == fail_at[0]:
            raise RuntimeError("encoder died")
        return embed_posts(part, CountingEncoder(), None)

    return seen, embed


def test_the_stage_writes_a_part_per_month_and_rewrites_only_changed_months(tmp_path):
    """The embeddings are one Parquet part per month: read in order they are the one-call
    table; a new post rewrites its month only (the other parts keep their files and nothing of
    them is encoded or looked up); each part is then the bytes a fresh build writes."""
    from analysis.stages.embed import MANIFEST, embed_by_month
    from analysis.vectors import parts, read_table

    posts = _dated(45)  # 2024-01 .. 2024-03
    seen, embed = _recording()

    folder = tmp_path / "embeddings"
    stats, reused = embed_by_month(posts, embed, folder, "fake@1")
    assert [f.name for f in parts(folder)] == [
        "2024-01.parquet",
        "2024-02.parquet",
        "2024-03.parquet",
    ]
    whole, _ = embed_posts(posts.select("post_id", "text"), CountingEncoder(), None)
    assert read_table(folder).equals(whole)
    assert stats.n_posts == 45 and reused == 0 and seen == [45]  # three small months at once
    for chunk, calls in ((30, [30, 15]), (16, [16, 14, 15]), (10, [10, 6, 10, 4, 10, 5])):
        seen.clear()  # consecutive months up to `chunk` posts; a larger month in chunks alone
        cut = tmp_path / f"cut-{chunk}"
        embed_by_month(posts, embed, cut, "fake@1", chunk_posts=chunk)
        assert seen == calls
        assert _parts_bytes(cut) == _parts_bytes(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["vectors"] == "fake@1" and sorted(manifest["months"]) == [
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    assert "post_" not in (folder / MANIFEST).read_text()  # digests and counts, no id or text

    before = {f.name: f.stat().st_mtime_ns for f in parts(folder)}
    grown = _dated(46)  # one more post, in March
    seen.clear()
    stats, reused = embed_by_month(grown, embed, folder, "fake@1")
    assert seen == [grown.filter(pl.col("created_at").dt.month() == 3).height]
    assert reused == 46 - seen[0] and stats.n_posts == seen[0]
    after = {f.name: f.stat().st_mtime_ns for f in parts(folder)}
    assert after["2024-01.parquet"] == before["2024-01.parquet"]
    assert after["2024-02.parquet"] == before["2024-02.parquet"]
    fresh = tmp_path / "fresh"
    embed_by_month(grown, lambda part: embed_posts(part, CountingEncoder(), None), fresh, "fake@1")
    assert _parts_bytes(folder) == _parts_bytes(fresh)


def test_months_are_rewritten_when_the_vectors_or_the_posts_say_so(tmp_path):
    """Another vector space rewrites every month; a month left out of the manifest (a run
    killed while writing it) or whose part is missing is rewritten; a month whose posts are
    gone (an erased account's) loses its part; a stray file goes."""
    from analysis.stages.embed import MANIFEST, embed_by_month
    from analysis.vectors import parts

    folder = tmp_path / "embeddings"
    seen, embed = _recording()

    posts = _dated(45)
    embed_by_month(posts, embed, folder, "fake@1")
    seen.clear()
    embed_by_month(posts, embed, folder, "fake@2")  # another model, route or token limit
    assert sum(seen) == 45
    record = json.loads((folder / MANIFEST).read_text())
    del record["months"]["2024-02"]
    (folder / MANIFEST).write_text(json.dumps(record))
    (folder / "2024-01.parquet").unlink()
    (folder / "stray.tmp").write_text("half a part")
    seen.clear()
    embed_by_month(posts, embed, folder, "fake@2")
    assert seen == [16 + 14]  # January and February (missing part, manifest entry) together
    assert not (folder / "stray.tmp").exists()
    seen.clear()
    march_only = posts.filter(pl.col("created_at").dt.month() == 3)
    _, reused = embed_by_month(march_only, embed, folder, "fake@2")
    assert seen == [] and reused == march_only.height
    assert [f.name for f in parts(folder)] == ["2024-03.parquet"]
    assert sorted(json.loads((folder / MANIFEST).read_text())["months"]) == ["2024-03"]


def test_one_cache_sees_the_shards_written_and_pruned_since_its_last_lookup(tmp_path):
    """The cache keeps each shard's keys between lookups (one lookup per month in the stage):
    a shard stored, rewritten or deleted since is read again, so no lookup misses a vector or
    serves a pruned one."""
    cache = EmbeddingCache(tmp_path, "fake", "1")
    texts = _posts(15)["text"]
    keys = text_keys(texts)
    embed_posts(_posts(10), CountingEncoder(), cache)
    assert cache.vectors(keys, DIM)[0].sum() == 10
    embed_posts(_posts(5, start=10), CountingEncoder(), cache)  # a second shard
    found, matrix = cache.vectors(keys, DIM)
    assert found.all()
    assert np.array_equal(matrix, CountingEncoder()(texts.to_list()))
    cache.prune(keys.head(3))  # both shards rewritten or deleted
    assert cache.vectors(keys, DIM)[0].tolist() == [True] * 3 + [False] * 12


def test_a_month_is_rewritten_when_its_rows_change_in_any_way(tmp_path):
    """A text edited under the same post id, or two posts of a month trading places in the file
    order, rewrite that month (and no other)."""
    from analysis.stages.embed import embed_by_month, file_order

    folder = tmp_path / "embeddings"
    seen, embed = _recording()

    posts = _dated(45)
    embed_by_month(posts, embed, folder, "fake@1")
    feb = pl.col("created_at").dt.month() == 2
    edited = posts.with_columns(
        text=pl.when(pl.col("post_id") == "post_20").then(pl.lit("an edit")).otherwise("text")
    )
    seen.clear()
    embed_by_month(edited, embed, folder, "fake@1")
    assert seen == [posts.filter(feb).height]
    # posts 20 and 21 trade their times: the same rows of February in another order
    a, b = (posts.filter(pl.col("post_id") == i)["created_at"][0] for i in ("post_20", "post_21"))
    swapped = file_order(
        edited.with_columns(
            created_at=pl.when(pl.col("post_id") == "post_20")
            .then(pl.lit(b))
            .when(pl.col("post_id") == "post_21")
            .then(pl.lit(a))
            .otherwise("created_at")
        )
    )
    ids_texts = ["post_id", "text"]
    assert set(swapped.filter(feb).select(ids_texts).rows()) == set(
        edited.filter(feb).select(ids_texts).rows()
    )
    assert swapped.filter(feb)["post_id"].to_list() != edited.filter(feb)["post_id"].to_list()
    seen.clear()
    embed_by_month(swapped, embed, folder, "fake@1")
    assert seen == [posts.filter(feb).height]
    fresh = tmp_path / "fresh"
    embed_by_month(
        swapped, lambda part: embed_posts(part, CountingEncoder(), None), fresh, "fake@1"
    )
    assert _parts_bytes(folder) == _parts_bytes(fresh)


def test_a_damaged_or_foreign_part_is_rewritten_and_a_failed_run_is_recovered(tmp_path):
    """A part emptied, truncated or replaced by another month's file is rewritten although the
    manifest lists its month (its footer names the rows it holds: DVC never deletes a
    persistent output, so only the stage can repair it). A run that fails half-way and is then
    run on the former posts again rewrites what the failed run touched."""
    from analysis.stages.embed import embed_by_month

    folder = tmp_path / "embeddings"
    fail_at = [0]
    seen, embed = _recording(fail_at)

    posts = _dated(45)
    embed_by_month(posts, embed, folder, "fake@1", chunk_posts=16)  # a call per month
    good = _parts_bytes(folder)
    (folder / "2024-01.parquet").write_bytes(b"")
    feb = (folder / "2024-02.parquet").read_bytes()
    (folder / "2024-02.parquet").write_bytes(feb[: len(feb) // 2])
    (folder / "2024-03.parquet").write_bytes(good["2024-02.parquet"])  # February's file
    seen.clear()
    embed_by_month(posts, embed, folder, "fake@1", chunk_posts=16)
    assert len(seen) == 3 and _parts_bytes(folder) == good

    # a run under other vectors dies after rewriting January; the next, under the former
    # vectors, must not keep January's part of the other vectors (the footer names them too)
    seen.clear()
    fail_at[0] = 2
    with pytest.raises(RuntimeError, match="encoder died"):
        embed_by_month(posts, embed, folder, "fake@2", chunk_posts=16)
    fail_at[0] = 0
    seen.clear()
    embed_by_month(posts, embed, folder, "fake@1", chunk_posts=16)
    assert 16 in seen and _parts_bytes(folder) == good


def test_month_digests_are_the_sha256_of_each_months_row_digests_in_file_order() -> None:
    """Per month: the number of posts and the sha256 of the concatenated sha256 hex digests of
    its rows (``post_id``, null flag, text joined by the unit separator), in file order, as
    hashlib computes them; another row order within a month gives another digest."""
    from datetime import UTC, datetime, timedelta

    from analysis.stages.embed import MONTH, month_digests

    start = datetime(2026, 1, 25, tzinfo=UTC)
    texts = ["a", None, "été", "", "b c", "a", None, "x" * 300]
    posts = pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(len(texts))],
            "text": texts,
            "created_at": [start + timedelta(days=3 * i) for i in range(len(texts))],
        }
    ).with_columns(_month=MONTH)
    want: dict[str, dict] = {}
    for month in dict.fromkeys(posts["_month"].to_list()):
        rows = posts.filter(pl.col("_month") == month)
        row_digests = [
            hashlib.sha256(
                "\x1f".join([pid, str(text is None).lower(), text or ""]).encode()
            ).hexdigest()
            for pid, text in rows.select("post_id", "text").iter_rows()
        ]
        want[month] = {
            "n_posts": rows.height,
            "sha256": hashlib.sha256("".join(row_digests).encode()).hexdigest(),
        }
    got = month_digests(posts)
    assert got == want and list(got) == list(want)
    swapped = month_digests(pl.concat([posts[1:2], posts[0:1], posts[2:]]))
    assert swapped["2026-01"]["sha256"] != got["2026-01"]["sha256"]
    assert {m: v for m, v in swapped.items() if m != "2026-01"} == {
        m: v for m, v in got.items() if m != "2026-01"
    }


def _months_file(tmp_path, n: int = 300, seed: int = 3):
    """Posts over five months across a year's end, written to a Parquet file in time order in
    small row groups (as ingest writes the interim table); some posts share an instant (the
    file order breaks the tie by the text's hash), some sit on a month's first instant."""
    from analysis.stages.embed import file_order

    rng = np.random.default_rng(seed)
    start = datetime(2023, 11, 1, tzinfo=UTC)
    offsets = np.sort(rng.integers(0, 150 * 24, n)) * 3600  # hourly instants: many ties
    offsets[:3] = 0  # three posts on 1 November, 00:00
    posts = pl.DataFrame(
        {
            "post_id": [f"post_{i:04d}" for i in rng.permutation(n)],
            "text": [f"text {int(x)} of a post" for x in rng.integers(0, n // 2, n)],
            "created_at": [start + timedelta(seconds=int(s)) for s in offsets],
        }
    ).with_columns(pl.col("created_at").dt.cast_time_unit("us"))
    posts = posts.with_columns(
        text=pl.when(pl.int_range(n) % 17 == 0).then(None).otherwise("text")  # empty texts
    ).sort("created_at", "post_id")  # the interim table's order (time, then the pseudonym)
    path = tmp_path / "posts.parquet"
    posts.write_parquet(path, row_group_size=37)
    return path, file_order(posts)


def test_the_file_read_month_by_month_is_the_frame_split_by_month(tmp_path):
    """``FileMonths`` (the stage's source) gives the months and, per month, the rows of the
    whole table in file order, and the embeddings written from it are the bytes written from
    the table in memory (a Parquet filter per month: across the year's end, on a month's first
    instant, with ties of time)."""
    from analysis.stages.embed import FileMonths, FrameMonths, embed_by_month

    path, posts = _months_file(tmp_path)
    file, frame = FileMonths(path), FrameMonths(posts)
    assert file.height() == posts.height
    assert (
        file.months() == frame.months() == ["2023-11", "2023-12", "2024-01", "2024-02", "2024-03"]
    )
    for month in file.months():
        assert_frame_equal(file.read(month), frame.read(month))
    assert sum(file.read(m).height for m in file.months()) == posts.height
    seen, embed = _recording()
    embed_by_month(posts, embed, tmp_path / "from-frame", "fake@1", chunk_posts=70)
    calls = list(seen)
    seen.clear()
    embed_by_month(file, embed, tmp_path / "from-file", "fake@1", chunk_posts=70)
    assert seen == calls  # the same groups of months, in the same order
    assert _parts_bytes(tmp_path / "from-file") == _parts_bytes(tmp_path / "from-frame")


def test_the_file_source_refuses_posts_without_a_time_and_prunes_like_the_frame(tmp_path):
    from analysis.stages.embed import FileMonths, embed_by_month, prune_after_erasure

    path, posts = _months_file(tmp_path, n=60)
    undated = tmp_path / "undated.parquet"
    pl.read_parquet(path).with_columns(
        created_at=pl.when(pl.int_range(60) == 7).then(None).otherwise("created_at")
    ).write_parquet(undated)
    with pytest.raises(ValueError, match="1 posts have no created_at"):
        embed_by_month(FileMonths(undated), _recording()[1], tmp_path / "e", "fake@1")

    def pruned(source) -> list[str]:
        cache = EmbeddingCache(tmp_path / f"cache-{type(source).__name__}", "fake", "1")
        embed_posts(_posts(40), CountingEncoder(), cache)  # other texts, to be pruned
        embed_posts(posts.select("post_id", "text"), CountingEncoder(), cache)
        opt_out = tmp_path / "opt_out.txt"
        opt_out.write_text("hmac:0:someone\n")
        prune_after_erasure(cache, source, opt_out)
        return sorted(
            pl.concat([pl.read_parquet(f)["text_sha256"] for f in cache.folder.glob("shard-*")])
        )

    kept = pruned(FileMonths(path))
    assert kept == pruned(posts)
    assert len(kept) == posts["text"].drop_nulls().n_unique()
    empty = tmp_path / "empty.parquet"  # a dump without posts: no month, no part, all pruned
    posts.clear().write_parquet(empty)
    stats, reused = embed_by_month(FileMonths(empty), _recording()[1], tmp_path / "none", "fake@1")
    assert (stats.n_posts, reused) == (0, 0) and FileMonths(empty).months() == []
    cache = EmbeddingCache(tmp_path / "cache-empty", "fake", "1")
    embed_posts(_posts(5), CountingEncoder(), cache)
    (tmp_path / "opt_out.txt").write_text("hmac:0:someone else\n")
    assert prune_after_erasure(cache, FileMonths(empty), tmp_path / "opt_out.txt") == 5


#: Demo texts and the SHA-256 of their vectors (float32, little-endian) as an AMD Zen 3 wrote
#: them (the last lock before MKL's strict mode, 2026-12-03), reproduced bit for bit on an
#: Intel Xeon with AMX (2026-12-05): the pinned arithmetic (analysis.numerics) with one thread
#: a forward pass (TorchEncoder) is to give these bits on any x86-64 CPU with AVX2.
CROSS_MACHINE_VECTORS = {
    "Happy Monday! Drop a like if you agree.": (
        "f3be74e6eebd20c38bd5a7e3b0098740d99efcc2931f96bba4014e9b89abc2e6"
    ),
    "Same here. A mutable type hints fixed it for me, together with a better import error.": (
        "460e8640a2832834dcfd6792920b99ff9e95e6b5205edbaa1ef7efd428a976d3"
    ),
    "Same here. A sharp golden hour fixed it for me, together with a better aperture ring.": (
        "a91bed0a639ae2155e7c406c55197f134248e626ae9f97e9eb79b970f99f5449"
    ),
    "Here is what I learned after a month with a underproofed sourdough starter: proof slowly, "
    "check the scoring blade, and keep notes. Mail me at [email] if you want the details.": (
        "72b588f66f1c038344bc6a1e999d8d0cd7ed1d311bf4041cd3b95de9963c8cce"
    ),
    "Has anyone tried to profile the dictionary with a vectorised list comprehension? Mine keeps "
    "ending up mutable and I am not sure why. Mail me at [email] if you want the details.": (
        "948ac0bf1ce62ed387b3eda948434824738fdbef5a87bce77dc07a1fbff52197"
    ),
}


def test_the_vectors_are_those_other_cpus_wrote(embedding_model) -> None:
    """Results are never a function of the machine: on this CPU the demo's vectors are the bits
    other CPUs wrote. MKL's strict mode (pinned 2026-12-03 to 12-05) fails it on an Intel Xeon
    with AMX, whose lock that machine did not reproduce. On a non-Intel CPU MKL ignores the pin
    and picks its kernels by the CPU: the bits agree on some (the AMD Zen 3 that wrote them)
    and differ on others (an AMD Zen 4, another Zen 3): an expected failure where they differ,
    a pass where they agree."""
    import os
    import platform

    from analysis import numerics

    if not numerics.pins_for(platform.machine(), numerics.cpu_flags()):
        pytest.skip("no AVX2 pins on this CPU: its last bits may differ (analysis.numerics)")
    overridden = sorted(k for k, v in numerics.AVX2_PINS.items() if os.environ.get(k) != v)
    if overridden:
        pytest.skip(f"kernel variables set by the user: {overridden}")
    texts = list(CROSS_MACHINE_VECTORS)
    vectors = model_encoder(embedding_model, 64, threads=2)(texts)
    got = {
        t: hashlib.sha256(np.asarray(v, dtype="<f4").tobytes()).hexdigest()
        for t, v in zip(texts, vectors, strict=True)
    }
    if got != CROSS_MACHINE_VECTORS and not numerics.mkl_follows_pin(
        numerics.cpu_vendor(), numerics.cpu_flags()
    ):
        # a known gap, not a pass: MKL runs its own kernels on a non-Intel CPU (an AMD Zen 4:
        # 4 or 5 of the 5 vectors differ, 2026-12-06; an AMD Zen 3 virtual machine: 4 of 5,
        # 2026-12-07)
        n = sum(got[t] != CROSS_MACHINE_VECTORS[t] for t in texts)
        pytest.xfail(f"MKL picks its own kernels on this non-Intel CPU: {n} of 5 vectors differ")
    assert got == CROSS_MACHINE_VECTORS


def test_a_call_holds_four_batches_per_thread_of_the_encoder() -> None:
    """An encoder that runs its passes side by side (``threads``) is handed at least four
    batches a thread per call, so that none of its threads waits out the call; the vectors are
    the same as in calls of one batch."""
    texts = _sentences(100)

    class Threaded(CountingEncoder):
        threads = 5

    threaded, plain = Threaded(), CountingEncoder()
    a = encode_texts(texts, threaded, batch_size=2, chunk_batches=1)
    b = encode_texts(texts, plain, batch_size=2, chunk_batches=1)
    assert threaded.calls == [40, 40, 20] and plain.calls == [2] * 50
    assert np.array_equal(a, b)
