"""Hot paths found by profiling (the real-data tests, the 1M pipeline), each beside the route
it replaced where it has one.

    .venv/bin/python -m benchmarks.hot_paths [--real PATH] [--repeat N] [--accounts N] [--posts N]
                                             [--rows N] [--edges N]

* the Twitter adapter's times: ``twitter_records.parse_time`` (Twitter's own format read
  without ``strptime``) against ``strptime`` on the same values, and the whole PHEME read;
* the audit's multi-word names: ``audit_software.is_software_phrase`` (word pairs looked up
  first) against a search of the whole prose for each name, and ``Identifiers.from_tables``
  on PHEME with each (the software's words, read once per process, already read);
* the scrubbing of texts with joined words or underscores at a token's edge, by the columns,
  against those texts one by one in Python (Usenet's sample: 12 % of its texts);
* ``validity.nb_fit``: the intercept-only fit shared by the optimisers' attempts against each
  attempt fitting its own (statsmodels' default), on a fit where all three optimisers run and
  on one where none reaches a maximum;
* the name redactor of a synthetic dump's accounts (``--accounts``, 50,000 as at 1M posts):
  its build, the memory its Python objects hold (tracemalloc), and the streaming engine's
  count of which name forms are ordinary words, 20,000 texts a batch, with the form keys made
  ready once (``name_forms.FormKeys``) against made again for every batch;
* ``common.group_sums`` (the groups of one or two rows summed unsorted, the others sorted)
  against a group-by of ``common.ordered_sum`` (every group sorted), on ``--rows`` values in
  groups shaped like ``conversation_eb``'s items (an account's repliers in one thread: 93 %
  of the groups of one row) and in groups of ~20 (an account's items: there the split loses);
* ``conversation_eb``'s circle counts after one account's alteration (half its reply edges
  gone), updated from the graph listed before it (``models.circle_delta``, as compare's
  re-scorings do) against listing every triangle again, on a hub-heavy graph of ``--edges``
  random replies (distinct edges: about half; the default ~590,000, as at 1M posts) and two
  count vectors (all replies, and a random half of the edges: a subgraph, as the band's
  earlier date gives);
* pairs of codes keyed as one packed integer (``common.pair_key``, session 54) against the
  group-bys, distinct rows, joins and sorts on the two columns they replaced, on ``--rows``
  synthetic posts: ``conversation_eb``'s item outcomes (an item per post, 70 % of them
  replied to), ``common.pair_group_by`` on two categorical account ids (conversation's
  repliers), and the reply edges sorted by (source, target, weight) as PageRank reads them.

Best of ``--repeat`` runs, in this process, after one warm-up. Prints figures; asserts nothing
(``tests/unit`` checks that each new route gives the old one's answers). The real-data parts
are skipped when the shared folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

REAL = ROOT.parent / "shared" / "data" / "real"
PHEME = "pheme-rumour-scheme"


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(label: str, n: int, new: float, old: float | None = None, unit: str = "items") -> None:
    ratio = f"  {old / new:5.1f}x the old route ({old:.3f} s)" if old is not None else ""
    print(f"  {label:46s} {n:>8,} {unit}  {new:8.3f} s  {n / new:>12,.0f} {unit}/s{ratio}")


def twitter_times(real: Path, repeat: int) -> None:
    from analysis.sources import read_source, twitter_records

    print("Twitter adapter")
    rng = np.random.default_rng(0)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    values = [
        f"{days[rng.integers(7)]} {months[rng.integers(12)]} {rng.integers(1, 29):02d} "
        f"{rng.integers(24):02d}:{rng.integers(60):02d}:{rng.integers(60):02d} +0000 "
        f"{rng.integers(2008, 2024)}"
        for _ in range(75_532)  # as many as PHEME's statuses hold
    ]
    fmt = twitter_records.TIME_FORMAT
    new = best(lambda: [twitter_records.parse_time(v) for v in values], repeat)
    old = best(lambda: [datetime.strptime(v, fmt).astimezone(UTC) for v in values], repeat)
    row("created_at, Twitter's format", len(values), new, old, "times")
    if (real / PHEME).exists():
        holder: dict[str, Any] = {}

        def read() -> None:
            holder["t"] = read_source("twitter", real / PHEME)

        seconds = best(read, max(1, repeat // 2))
        n = sum(holder["t"].n_read.values())
        row("PHEME read (every status file)", n, seconds, unit="rows")


def audit_names(real: Path, repeat: int) -> None:
    from analysis import audit, audit_software
    from analysis.audit import MIN_NAME, Identifiers, name_variants
    from analysis.sources import read_source

    print("Audit: the software's own phrases")
    if not (real / PHEME).exists():
        print(f"  skipped: {real / PHEME} is absent")
        return
    tables = read_source("twitter", real / PHEME)
    # the names the audit asks about: every variant of every handle and display name
    names = sorted(
        {
            variant
            for col in ("handle", "display_name")
            for v in tables.accounts[col].drop_nulls().to_list()
            for variant in name_variants(v, MIN_NAME)
        }
    )
    prose = audit_software.software_prose()

    def searched(name: str) -> bool:  # the route it replaced: the whole prose searched
        phrase = audit_software._phrase(name)
        return phrase.count(" ") > 2 and phrase in prose

    new = best(lambda: [audit_software.is_software_phrase(n) for n in names], repeat)
    old = best(lambda: [searched(n) for n in names], 1)
    row("names and variants, is_software_phrase", len(names), new, old, "names")
    build = lambda: Identifiers.from_tables([tables.accounts], [tables.posts])  # noqa: E731
    new = best(build, repeat)
    audit.is_software_phrase = searched
    try:
        old = best(build, 1)
    finally:
        audit.is_software_phrase = audit_software.is_software_phrase
    row("Identifiers.from_tables on PHEME", tables.accounts.height, new, old, "accounts")


def usenet_scrub(real: Path, repeat: int) -> None:
    import polars as pl

    from analysis import privacy, scrub
    from analysis.ingest_names import redactor_for
    from analysis.names import JOINED_WORD
    from analysis.sources import read_source

    print("Scrubbing: joined words and edge underscores by the columns")
    folder = real / "usenet-mini-newsgroups"
    if not folder.exists():
        print(f"  skipped: {folder} is absent")
        return
    tables = read_source("usenet", folder)
    names = redactor_for(tables)
    texts = tables.posts["text"].cast(pl.String).drop_nulls()
    joined = texts.str.contains(JOINED_WORD)

    def before() -> None:  # the route it replaced: those texts one by one in Python
        scrub.scrub_series(texts.filter(~joined), names)
        for text in texts.filter(joined).to_list():
            privacy.scrub_text(text, names)

    new = best(lambda: scrub.scrub_series(texts, names), repeat)
    old = best(before, repeat)
    row(f"Usenet sample ({joined.sum()} such texts)", texts.len(), new, old, "texts")


def nb_fits(repeat: int) -> None:
    from analysis.models import validity

    print("validity.nb_fit: the intercept-only fit once per (x, y)")
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, 120)
    mu = 0.03 * np.exp(-0.5 * (x - x.mean()) / x.std())
    cases = {
        "three optimisers (120 sparse counts)": (
            rng.negative_binomial(0.05, 0.05 / (0.05 + mu)).astype(np.int64),
            x,
        ),
        "no maximum (one count of 40)": (np.r_[np.zeros(39, dtype=np.int64), 1], np.arange(40.0)),
    }
    real_attempt = validity._nb_attempt
    for label, (y, xs) in cases.items():
        new = best(lambda y=y, xs=xs: validity.nb_fit(y, xs), repeat)
        validity._nb_attempt = lambda yy, z, method, null=None: real_attempt(yy, z, method)
        try:
            old = best(lambda y=y, xs=xs: validity.nb_fit(y, xs), repeat)
        finally:
            validity._nb_attempt = real_attempt
        row(label, 1, new, old, "fits")


def name_redactor(n_accounts: int, n_posts: int, repeat: int) -> None:
    import gc
    import tracemalloc

    from analysis import name_forms, privacy
    from analysis.names import without_cyclic_gc
    from benchmarks.synthetic import synthetic_accounts, synthetic_posts

    print(f"The name redactor of {n_accounts:,} synthetic accounts")
    accounts = synthetic_accounts(n_accounts)
    names = accounts["handle"].to_list() + accounts["display_name"].to_list()

    def build() -> privacy.NameRedactor:
        with without_cyclic_gc():
            return privacy.NameRedactor(names)

    row("NameRedactor build", len(names), best(build, repeat), unit="names")
    gc.collect()
    tracemalloc.start()
    red = build()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"  {'its Python objects hold':46s} {held / 2**20:8.1f} MiB for {len(red.encoded):,} entries"
    )
    del red
    variants = {v for n in names for v in privacy.name_variants(n)}
    keys = sorted(name_forms.form_keys(variants))
    posts = synthetic_posts(n_posts, n_accounts=n_accounts).select("account_id", "text")
    parts = [posts.slice(i, 20_000) for i in range(0, posts.height, 20_000)]
    ready = name_forms.FormKeys(keys)
    new = best(lambda: [name_forms.form_authors(p, ready) for p in parts], repeat)
    old = best(lambda: [name_forms.form_authors(p, keys) for p in parts], repeat)
    row(f"form counts, {len(keys):,} keys, 20,000 texts a batch", posts.height, new, old, "texts")


def group_sums(n_rows: int, repeat: int) -> None:
    import polars as pl

    from analysis.models import common

    print(f"Group sums in a fixed order, {n_rows:,} values")
    rng = np.random.default_rng(5)
    value = rng.random(n_rows) * rng.pareto(1.5, n_rows)
    shapes = {
        # ~93 % of the groups of one row, as the (account, thread) items at 1M posts
        "groups mostly of one or two rows": rng.integers(0, 7 * n_rows, n_rows),
        "groups of ~20 rows": rng.integers(0, max(n_rows // 20, 1), n_rows),
    }
    for label, key in shapes.items():
        frame = pl.DataFrame({"g": key, "x": value})
        new = best(lambda f=frame: common.group_sums(f, ["g"], s=pl.col("x")), repeat)
        old = best(lambda f=frame: f.group_by("g").agg(s=common.ordered_sum(pl.col("x"))), repeat)
        row(label, n_rows, new, old, "values")


def circle_updates(n_edges: int, repeat: int) -> None:
    import polars as pl

    from analysis.models import circle_delta, replier_weights

    n_acc = max(n_edges // 12, 10)
    rng = np.random.default_rng(9)
    w = 1.0 / np.arange(1, n_acc + 1) ** 1.1
    src, dst = rng.choice(n_acc, (2, n_edges), p=w / w.sum())
    edges = (
        pl.DataFrame({"src": src.astype(str), "dst": dst.astype(str)})
        .filter(pl.col("src") != pl.col("dst"))
        .group_by("src", "dst")
        .agg(n0=pl.len().cast(pl.Float64))
    )
    edges = edges.with_columns(n1=pl.Series(rng.integers(0, 2, edges.height) * edges["n0"]))
    # a mid-ranked account off for a weekend: half its replies gone
    x = str(n_acc // 50)
    altered = edges.filter((pl.col("src") != x) | pl.Series(rng.random(edges.height) < 0.5))

    def coded(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[np.ndarray]]:
        accounts = replier_weights.account_codes(frame["src"], frame["dst"])
        c = replier_weights.code_edges(frame, accounts)
        return c.select("s", "d"), accounts, [c["n0"].to_numpy(), c["n1"].to_numpy()]

    before, (pairs, accounts, counts) = coded(edges), coded(altered)
    print(f"Circle counts after one account's alteration, {pairs.height:,} reply edges")
    degrees = replier_weights.partner_degrees(pairs)
    full = replier_weights.circle_counts

    def listed() -> list[np.ndarray]:
        return full(pairs, degrees, accounts.height, counts)

    def updated() -> list[np.ndarray]:
        with circle_delta.reusing():
            return circle_delta.circle_counts(pairs, degrees, accounts, counts, full)

    circle_delta.forget()
    with circle_delta.reusing():  # the graph before the alteration, listed and kept
        b_pairs, b_accounts, b_counts = before
        b_degrees = replier_weights.partner_degrees(b_pairs)
        circle_delta.circle_counts(b_pairs, b_degrees, b_accounts, b_counts, full)
    new = best(updated, repeat)
    # a change too wide for an update lists in full instead
    route = "listed (too wide to update)" if circle_delta.tally()["listed"] > 1 else "updated"
    old = best(listed, repeat)
    same = all(np.array_equal(a, b) for a, b in zip(updated(), listed(), strict=True))
    circle_delta.forget()
    row(f"{route} (the same numbers: {'yes' if same else 'NO'})", pairs.height, new, old, "edges")


def _item_outcomes_on_two_columns(coded: Any, weights: Any, repeat_power: float) -> Any:
    """``conversation_eb.item_outcomes`` before session 54: every group-by, distinct row and
    join on the two code columns."""
    import polars as pl

    from analysis.models import common

    items = coded.own.lazy().group_by("a", "t").agg(first_at=pl.col("created_at").min()).collect()
    direct = (
        coded.direct.lazy()
        .select("s", "d", "t")
        .unique(["d", "t", "s"])
        .join(weights.lazy(), on=["s", "d"], how="left")
        .with_columns(n_threads=pl.len().over("s", "d").cast(pl.Float64))
        .collect()
    )
    y = pl.col("weight").fill_null(0.0) * pl.col("n_threads").pow(-repeat_power)
    direct = (
        common.group_sums(direct, ["d", "t"], y=y)
        .with_columns(pl.col("y").round(12))
        .rename({"d": "a"})
    )
    return items.join(direct, on=["a", "t"], how="left").with_columns(pl.col("y").fill_null(0.0))


def pair_keys(n_rows: int, repeat: int) -> None:
    from datetime import timedelta

    import polars as pl

    from analysis.models import common, conversation_eb

    print(f"Pairs of codes as one packed integer, {n_rows:,} synthetic posts")
    rng = np.random.default_rng(11)
    n_acc = max(n_rows // 20, 10)
    w = 1.0 / np.arange(1, n_acc + 1) ** 1.1
    author = rng.choice(n_acc, n_rows, p=w / w.sum())
    start = datetime(2025, 1, 1, tzinfo=UTC)
    at = pl.Series([start + timedelta(minutes=int(m)) for m in rng.integers(0, 500_000, n_rows)])
    # an item per post (as at 1M posts: 972k items of 1M), 70 % of them replied to
    replied = np.flatnonzero(rng.random(n_rows) < 0.7)
    replier = rng.choice(n_acc, replied.size, p=w / w.sum())
    keep = replier != author[replied]
    replied, replier = replied[keep], replier[keep]
    coded = conversation_eb.Coded(
        own=pl.DataFrame({"a": author, "t": np.arange(n_rows), "created_at": at}),
        credit=pl.DataFrame({"s": replier, "d": author[replied]}),
        direct=pl.DataFrame(
            {
                "s": replier,
                "d": author[replied],
                "t": replied,
                "created_at": at.gather(replied),
                "target_at": at.gather(replied),
            }
        ),
        accounts=pl.DataFrame({"account_id": np.arange(n_acc).astype(str), "a": np.arange(n_acc)}),
    )
    weights = (
        coded.credit.unique()
        .with_columns(weight=pl.Series(rng.random(coded.credit.unique().height)))
        .select("s", "d", "weight")
    )

    def items_new() -> Any:
        return conversation_eb.item_outcomes(coded, 2.0, 0.5, weights)[0]

    def items_old() -> Any:
        return _item_outcomes_on_two_columns(coded, weights, 0.5)

    same = items_new().sort("a", "t").equals(items_old().select(items_new().columns).sort("a", "t"))
    label = f"item outcomes (the same rows: {'yes' if same else 'NO'})"
    row(label, n_rows, best(items_new, repeat), best(items_old, repeat), "posts")

    names = pl.Series([f"acct{i:07d}" for i in range(n_acc)])
    edges = pl.DataFrame(
        {
            "src": names.gather(replier).cast(pl.Categorical),
            "dst": names.gather(author[replied]).cast(pl.Categorical),
            "w": rng.random(replied.size),
        }
    )
    aggs = {"w": pl.col("w").max()}

    def grouped_new() -> Any:
        return common.pair_group_by(edges, "src", "dst", **aggs)

    def grouped_old() -> Any:
        return edges.group_by("src", "dst").agg(**aggs)

    key = [pl.col("src").cast(pl.String), pl.col("dst").cast(pl.String)]
    same = grouped_new().sort(key).equals(grouped_old().sort(key))
    label = f"repliers on categorical ids (the same rows: {'yes' if same else 'NO'})"
    row(label, edges.height, best(grouped_new, repeat), best(grouped_old, repeat), "edges")

    ij = pl.DataFrame(
        {
            "i": replier.astype(np.uint32),
            "j": author[replied].astype(np.uint32),
            "w": rng.random(replied.size).round(2),
            "w_full": np.ones(replied.size),
        }
    )

    def sorted_new() -> Any:
        return ij.sort(common.pair_key("i", "j", n_acc), "w", "w_full")

    def sorted_old() -> Any:
        return ij.sort("i", "j", "w", "w_full")

    same = sorted_new().equals(sorted_old())
    label = f"edges sorted for PageRank (the same order: {'yes' if same else 'NO'})"
    row(label, ij.height, best(sorted_new, repeat), best(sorted_old, repeat), "edges")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL, help="the shared real dumps")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--accounts", type=int, default=50_000, help="the redactor's accounts")
    ap.add_argument("--posts", type=int, default=200_000, help="texts for the form counts")
    ap.add_argument("--rows", type=int, default=1_000_000, help="group sums' values, posts")
    ap.add_argument("--edges", type=int, default=1_200_000, help="replies for the circles")
    args = ap.parse_args()
    twitter_times(args.real, args.repeat)
    audit_names(args.real, args.repeat)
    usenet_scrub(args.real, args.repeat)
    nb_fits(args.repeat)
    name_redactor(args.accounts, args.posts, args.repeat)
    group_sums(args.rows, args.repeat)
    circle_updates(args.edges, args.repeat)
    pair_keys(args.rows, args.repeat)


if __name__ == "__main__":
    main()
