"""The report's quote check reads the posts once, in polars, and finds what reading every post
in Python found (`publish.publication_problems` against the former per-post loop)."""

from __future__ import annotations

import random

import polars as pl
import pytest

from analysis import publish
from benchmarks.quotes import former_check

#: The check as it was: a regex and every run of every post, in Python.
reference = former_check


VOCAB = ["the", "model", "score", "Conversation", "reach", "0", "1", "42", "x_y", "naïve", "ÉTÉ"]
SEPARATORS = [" ", "  ", ", ", ".\n", " - ", "\t", "'", "|", "—", "…"]


def random_text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        out.append(rng.choice(VOCAB))
        out.append(rng.choice(SEPARATORS))
    return "".join(out)


def test_a_quote_is_found_through_punctuation_case_and_unicode() -> None:
    output = "We found that the model's score of reach is not a conversation at all here."
    posts = [
        "nothing to see",
        "THE MODEL'S SCORE, of reach -- is not a conversation!",  # ASCII, other separators
        "Déjà: the model's score of reach is not a conversation",  # non-ASCII: the Python route
        None,
        "",
    ]
    assert publish.publishable_problems(output, posts) == reference(output, posts)
    assert len(publish.publishable_problems(output, posts)) == 2


def test_the_problems_are_those_of_reading_every_post() -> None:
    rng = random.Random(5)
    for _ in range(30):
        posts: list[str | None] = [random_text(rng, rng.randint(0, 40)) for _ in range(150)]
        posts[rng.randrange(150)] = None
        outputs = {
            "md": random_text(rng, 300) + " acct_0123456789abcdef",
            "a.csv": "model,n\n" + random_text(rng, 60),
            "short": "too few words here",
        }
        got = publish.publication_problems(outputs, pl.Series(posts, dtype=pl.String))
        for name, text in outputs.items():
            assert got[name] == reference(text, posts), name
            assert publish.publishable_problems(text, posts) == got[name]


def test_the_problems_stop_after_ten_in_the_posts_order(monkeypatch: pytest.MonkeyPatch) -> None:
    quote = "one two three four five six seven eight"
    posts = [f"post {i}: {quote}" if i % 3 else f"nothing {i}" for i in range(60)]
    posts = [p.replace("one", "ÖNE") if i % 2 else p for i, p in enumerate(posts)]
    output = f"{quote} ÖNE two three four five six seven eight"
    monkeypatch.setattr(publish, "QUOTE_BATCH_TEXTS", 7)  # quotes found across batches
    got = publish.publishable_problems(output, posts)
    assert got == reference(output, posts) and len(got) == 11


def test_colliding_run_keys_never_make_a_quote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs are matched by a 64-bit key, then by their words: with every key equal (each run a
    candidate) the problems are still exactly those of reading every post."""
    n_words = publish.MIN_QUOTE_WORDS
    same_text = pl.col("i").shift(-(n_words - 1)) == pl.col("i")
    monkeypatch.setattr(
        publish, "_run_key", lambda n: pl.when(same_text).then(pl.lit(7, pl.UInt64))
    )
    rng = random.Random(11)
    for _ in range(10):
        posts: list[str | None] = [random_text(rng, rng.randint(0, 40)) for _ in range(80)]
        output = random_text(rng, 200)
        assert publish.publishable_problems(output, posts) == reference(output, posts)


def test_run_keys_wrap_at_64_bits_and_tell_runs_apart() -> None:
    """The keys are sums of products that overflow: polars must wrap them (not null them, which
    would hide a quote), and runs of the same words in another order get another key."""
    frame = pl.DataFrame({"i": [0] * 9, "w": ["a", "b", "c", "d", "e", "f", "g", "h", "a"]})
    keys = frame.select(key=publish._run_key(8))["key"]
    assert keys.null_count() == 7 and keys[0] is not None and keys[1] is not None
    assert keys[0] != keys[1]
    hashes = frame["w"].hash(publish._WORD_SEED).to_list()
    mix = [(2 * k + 1) * 0x9E3779B97F4A7C15 % 2**64 for k in range(8)]
    assert keys[0] == sum(h * m for h, m in zip(hashes[:8], mix, strict=True)) % 2**64


@pytest.mark.parametrize("batch", [7, 50, 200_000])
def test_the_texts_read_from_the_file_a_batch_at_a_time_find_the_same(
    tmp_path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """The report checks its outputs against the posts' file (``publish.ParquetTexts``), a batch
    of rows at a time, nulls left out: the problems of the column held whole, in the posts'
    order, the cut after ten included (batches of 7 and 50 rows cut it across their bounds)."""
    rng = random.Random(batch)
    posts: list[str | None] = [random_text(rng, rng.randint(0, 30)) for _ in range(400)]
    for i in rng.sample(range(400), 40):
        posts[i] = None
    quotes = []
    for i in sorted(rng.sample(range(400), 25)):  # each its own quote: the order shows
        quotes.append(f"q{i} one two three four five six seven")
        posts[i] = f"{random_text(rng, 3)} {quotes[-1]} {'ÉTÉ' if i % 2 else 'x'}"
    path = tmp_path / "posts.parquet"
    pl.DataFrame({"post_id": [f"p{i}" for i in range(400)], "text": posts}).write_parquet(
        path, row_group_size=33
    )
    outputs = {"md": " . ".join(quotes[::-1]), "b.csv": random_text(rng, 80)}
    monkeypatch.setattr(publish, "QUOTE_BATCH_TEXTS", batch)
    got = publish.publication_problems(outputs, publish.ParquetTexts(path))
    assert got == publish.publication_problems(outputs, pl.Series(posts, dtype=pl.String))
    assert got["md"] == reference(outputs["md"], posts) and len(got["md"]) == 11
    assert got["md"][0] == f"quotes post text: {quotes[0]!r}"  # the posts' order, not the output's
