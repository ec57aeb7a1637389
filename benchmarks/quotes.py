"""The report's publication check (no output quotes a post), against the number of posts.

Run ``python benchmarks/quotes.py`` (``--posts 100000,1000000`` to change the sizes,
``--outputs 8`` for the number of outputs checked: the writeup and the public CSVs). Synthetic
posts (``benchmarks.synthetic``: ~14 words each from a small vocabulary, so most words of a post
are words of the outputs, the hard case for the prefilter) against outputs written from the same
vocabulary, one of which quotes a post. Prints, per size, the seconds and posts/s of
``publish.publication_problems`` (every output, the posts read once) and of the former check
(every post read in Python once per output; timed on at most ``--reference-posts`` posts and
scaled), and the peak RSS growth. Figures only; nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

import polars as pl  # noqa: E402

from analysis import publish  # noqa: E402
from benchmarks.common import PeakRSS, human  # noqa: E402
from benchmarks.synthetic import synthetic_posts  # noqa: E402


def former_check(text: str, quoted_texts: list[str | None], n: int = 8) -> list[str]:
    """The check before session 19: a regex and every run of every post, in Python."""
    problems = [f"lists a pseudonym: {m.group(0)}" for m in publish.PSEUDONYM.finditer(text)][:5]
    words = re.findall(r"\w+", text.lower())
    grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
    for post in quoted_texts:
        pw = re.findall(r"\w+", (post or "").lower())
        for i in range(len(pw) - n + 1):
            gram = pw[i : i + n]
            if not any(any(ch.isalpha() for ch in w) for w in gram):
                continue
            if " ".join(gram) in grams:
                problems.append(f"quotes post text: {' '.join(pw[i : i + n])!r}")
                break
        if len(problems) > 10:
            break
    return problems


def outputs_like(texts: pl.Series, k: int, words: int = 3_000) -> dict[str, str]:
    """``k`` outputs of ``words`` words each, drawn from the posts' vocabulary (shuffled, so
    runs of 8 rarely repeat a post), the first quoting the last post."""
    vocab = texts.head(2_000).str.extract_all(r"\w+").explode().drop_nulls().unique().sort()
    out = {}
    for j in range(k):
        pick = vocab.sample(words, with_replacement=True, seed=j).to_list()
        out[f"output{j}"] = " ".join(pick)
    out["output0"] += "\n" + str(texts[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", default="100000,1000000")
    ap.add_argument("--outputs", type=int, default=8)
    ap.add_argument("--reference-posts", type=int, default=50_000)
    a = ap.parse_args(argv)
    for n in (int(x) for x in a.posts.split(",")):
        texts = synthetic_posts(n, seed=3)["text"]
        outputs = outputs_like(texts, a.outputs)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            found = publish.publication_problems(outputs, texts)
            secs = time.perf_counter() - t0
        m = min(n, a.reference_posts)
        sample = texts.head(m).to_list()
        t0 = time.perf_counter()
        for text in outputs.values():
            former_check(text, sample)
        ref = (time.perf_counter() - t0) * n / m
        print(
            f"{human(n)} posts, {len(outputs)} outputs: {secs:.2f} s ({n / secs:,.0f} posts/s, "
            f"+{mem.growth_mib:,.0f} MiB); former check ~{ref:.1f} s ({n / ref:,.0f} posts/s, "
            f"timed on {human(m)} posts): {ref / secs:.0f}x; "
            f"problems found: {sum(len(v) for v in found.values())}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
