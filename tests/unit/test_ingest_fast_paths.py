"""The fast paths of ingest (issue 16) give exactly what their reference gives."""

from __future__ import annotations

import random

import polars as pl

from analysis import ingest, privacy


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


def test_pseudonym_table_equals_one_hmac_per_id() -> None:
    key = b"a-test-key-that-is-long-enough-0123456789"
    ids = pl.Series(["1", "", "é\u0301", "日本", "x" * 200, None, "1"])
    raw, pseudo = privacy.pseudonym_table([ids, ids.reverse()], key, "ns", "post", "post_")
    assert raw.null_count() == 0 and raw.n_unique() == raw.len() == 5
    for r, p in zip(raw.to_list(), pseudo.to_list(), strict=True):
        assert p == privacy.pseudonym(key, "ns", "post", r, "post_")
    long_key = b"k" * 100  # longer than a SHA-256 block: hashed first, as hmac does
    _, p = privacy.pseudonym_table([pl.Series(["7"])], long_key, "ns", "account", "acct_")
    assert p.to_list() == [privacy.pseudonym(long_key, "ns", "account", "7", "acct_")]


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
    ours = account_month_aggregates(posts.lazy()).collect()
    peer = pl.from_pandas(pandas_aggregates(posts.to_pandas())).select(
        pl.col(c).cast(ours.schema[c]) for c in ours.columns
    )
    assert ours.height > 100 and ours["n_distinct_repliers"].max() > 1
    assert peer.equals(ours)
