"""Scores and counterfactual changes are a function of the data and params, bit for bit.

Float addition is not associative: a sum taken in polars' group-by order changes in the last
bits with the thread count and with the input's row order (``counterfactual_changes.parquet``
got another hash on every run). Each thread count runs in its own process (polars reads
``POLARS_MAX_THREADS`` once, at import), on the same small demo as generated and then with its
rows shuffled (the models and the battery hold no cache between calls), and every output must
be *identical* (``DataFrame.equals``: exact floats), not close.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ROOT

# One xdist group: the four runs (two subprocesses, ~45 CPU s) are made once, not once on each
# worker that gets one of the module's tests.
pytestmark = pytest.mark.xdist_group("determinism")

# Run in a child process: for each ``out seed`` pair of its arguments, score every model and run a
# small counterfactual battery on the demo tables (rows shuffled with ``seed`` unless it is 0),
# writing each output to ``out``.
_CHILD = r"""
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import polars as pl

from analysis import counterfactual, demo_check
from analysis import models as registry
from analysis.config import DemoParams
from analysis.counterfactual import CounterfactualParams
from analysis.demo import generate
from analysis.models.params import ModelParams

demo = demo_check.tables_from_demo(generate(DemoParams(seed=7, n_accounts=60, n_days=60)))
# topics from the posts' content, so that network_topic runs its topic path
demo = replace(
    demo,
    post_topics=demo.posts.select(
        "post_id",
        topic_id=(pl.col("text").str.len_chars() % 3).cast(pl.Int64),
        probability=0.4 + (pl.col("created_at").dt.minute() % 7) / 10,
    ),
)
cf = CounterfactualParams(
    n_sample=10,
    n_targets=4,
    n_boot=20,
    gaming_multipliers=(1.0,),
    spam_replier_shares=(0.1,),
    reply_all_sizes=(10,),
    self_chain_lengths=(5,),
    exchange_lengths=(5,),
    puppet_sizes=(5,),
    ring_sizes=(5,),
)
names = ("conversation_eb", "conversation", "conversation_rate", "volume")
p = ModelParams()
for out, seed in zip(sys.argv[1::2], map(int, sys.argv[2::2])):
    out, t = Path(out), demo
    if seed:
        shuffle = lambda df: df.sample(fraction=1.0, shuffle=True, seed=seed)  # noqa: E731
        t = replace(
            t,
            posts=shuffle(t.posts),
            reactions=shuffle(t.reactions),
            accounts=shuffle(t.accounts),
            post_topics=shuffle(t.post_topics),
        )
    as_of = t.posts["created_at"].max() + timedelta(seconds=1)
    for name in p.names:
        registry.MODELS[name].score(t, p, as_of).write_parquet(out / f"score_{name}.parquet")
    res = counterfactual.run_all(t, {n: registry.MODELS[n] for n in names}, p, as_of, cf)
    counterfactual.changes_table(res).write_parquet(out / "changes.parquet")
    rob = counterfactual.robustness_table(res)
    pl.DataFrame([{"model": m, **r} for m, r in rob.items()]).write_parquet(
        out / "robust.parquet"
    )
"""


def _run(
    tmp: Path, threads: int | None, cases: dict[str, int]
) -> dict[str, dict[str, pl.DataFrame]]:
    """Each case (label -> shuffle seed, 0: as generated) in one process of ``threads``."""
    args = []
    for label, seed in cases.items():
        (tmp / label).mkdir()
        args += [str(tmp / label), str(seed)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("POLARS_MAX_THREADS", None)
    if threads is not None:
        env["POLARS_MAX_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {
        label: {p.stem: pl.read_parquet(p) for p in sorted((tmp / label).glob("*.parquet"))}
        for label in cases
    }


def _differences(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> list[str]:
    assert a.keys() == b.keys()
    bad = []
    for name, fa in a.items():
        fb = b[name]
        key = [c for c in ("scenario", "strength", "model", "account_id") if c in fa.columns]
        fa, fb = fa.sort(key), fb.sort(key)  # row order is not the question here
        if fa.columns != fb.columns or fa.height != fb.height:
            bad.append(f"{name}: shape")
            continue
        bad += [f"{name}.{c}" for c in fa.columns if not fa[c].equals(fb[c])]
    return bad


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, pl.DataFrame]]:
    tmp = tmp_path_factory.mktemp("determinism")
    return {
        **_run(tmp, 1, {"one_thread": 0, "shuffled_one_thread": 11}),
        **_run(tmp, 4, {"four_threads": 0, "shuffled": 3}),
    }


def test_scores_and_changes_do_not_depend_on_the_thread_count(runs) -> None:
    assert runs["one_thread"]["changes"].height > 0
    assert _differences(runs["one_thread"], runs["four_threads"]) == []


def test_scores_and_changes_do_not_depend_on_the_row_order(runs) -> None:
    assert _differences(runs["four_threads"], runs["shuffled"]) == []
    assert _differences(runs["one_thread"], runs["shuffled_one_thread"]) == []


def test_ordered_sum_is_a_function_of_the_values_alone() -> None:
    """The building block: a group sum added in value order, whatever the rows' order."""
    from analysis.models.common import ordered_sum

    # values whose plain sum depends on the order (1e16 absorbs a lone 1.0)
    df = pl.DataFrame({"g": [1, 1, 1, 1] * 50, "x": [1e16, 1.0, -1e16, 1.0] * 50})
    got = {
        df.sample(fraction=1.0, shuffle=True, seed=s)
        .group_by("g")
        .agg(ordered_sum(pl.col("x")))["x"]
        .item()
        for s in range(20)
    }
    assert len(got) == 1
    plain = {
        df.sample(fraction=1.0, shuffle=True, seed=s)
        .group_by("g")
        .agg(pl.col("x").sum())["x"]
        .item()
        for s in range(20)
    }
    assert len(plain) > 1  # the case is one where order matters


def _group_sum_cases(seed: int) -> pl.DataFrame:
    """Groups of 1 to 6 rows (most of one or two), values over 40 orders of magnitude, both
    signs, signed zeros and nulls: sums whose last bits depend on the order of addition."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 3, 4, 6], size=3_000, p=[0.45, 0.3, 0.1, 0.1, 0.05])
    g = np.repeat(np.arange(sizes.size), sizes)
    x = rng.standard_normal(g.size) * 10.0 ** rng.integers(-20, 20, g.size)
    x[rng.random(g.size) < 0.02] = -0.0
    x[rng.random(g.size) < 0.02] = 0.0
    frame = pl.DataFrame({"g": g, "h": g % 3, "x": x})
    frame = frame.with_columns(
        x=pl.when(pl.int_range(pl.len()) % 37 == 5).then(None).otherwise(pl.col("x"))
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def _bits(frame: pl.DataFrame, col: str) -> list[int]:
    import numpy as np

    keys = [c for c in ("g", "h") if c in frame.columns]
    by = [pl.col(c).cast(pl.String) for c in keys]
    return frame.sort(by)[col].to_numpy().astype(np.float64).view(np.int64).tolist()


@pytest.mark.parametrize("ids", ["integer", "categorical"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_sums_is_ordered_sum_bit_for_bit(seed: int, ids: str) -> None:
    """``group_sums`` sums the groups of one or two rows unsorted and the others sorted: the
    very bits of ``ordered_sum`` over every group, whatever the rows' order; the same with the
    two keys categorical ids (grouped as one integer of their codes)."""
    from analysis.models.common import group_sums, ordered_sum

    df = _group_sum_cases(seed)
    if ids == "categorical":
        # two keys neither of which names a group alone, as pseudonyms' categorical codes
        df = df.with_columns(
            g=(pl.col("g") // 2).cast(pl.String).cast(pl.Categorical),
            h=(pl.col("g") % 2).cast(pl.String).cast(pl.Categorical),
        )
    expected = df.group_by("g", "h").agg(
        s=ordered_sum(pl.col("x")), t=ordered_sum(pl.col("x") * 3.0 - 1.0)
    )
    for shuffle in range(3):
        rows = df.sample(fraction=1.0, shuffle=True, seed=100 + shuffle)
        got = group_sums(rows, ["g", "h"], s=pl.col("x"), t=pl.col("x") * 3.0 - 1.0)
        assert got.height == expected.height
        assert got.columns == ["g", "h", "s", "t"]
        assert got.schema == expected.schema
        for col in ("s", "t"):
            assert _bits(got, col) == _bits(expected, col)


def test_group_sums_sorts_the_groups_where_order_matters() -> None:
    """The case can fail: summed as they come, the groups of three or more rows differ from
    ``ordered_sum`` in their last bits for some order of the rows."""
    from analysis.models.common import ordered_sum

    df = _group_sum_cases(0)
    expected = _bits(df.group_by("g").agg(s=ordered_sum(pl.col("x"))), "s")
    plain = [
        _bits(
            df.sample(fraction=1.0, shuffle=True, seed=s).group_by("g").agg(s=pl.col("x").sum()),
            "s",
        )
        for s in range(10)
    ]
    assert any(p != expected for p in plain)


def test_group_sums_of_no_rows_keeps_the_columns() -> None:
    from analysis.models.common import group_sums

    empty = pl.DataFrame(schema={"g": pl.Int64, "x": pl.Float64})
    got = group_sums(empty, ["g"], s=pl.col("x"))
    assert got.height == 0
    assert got.schema == pl.Schema({"g": pl.Int64, "s": pl.Float64})


def test_group_sums_refuses_its_own_column_name() -> None:
    """Its row count travels beside the values under a name of its own: a key or sum of that
    name would be summed wrong, so it is refused."""
    from analysis.models.common import group_sums

    frame = pl.DataFrame({"g": [1, 1, 1], "__group_sums_rows": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="its own column"):
        group_sums(frame, ["g"], __group_sums_rows=pl.col("__group_sums_rows"))


@pytest.mark.parametrize("seed", range(4))
def test_pair_keys_give_the_pairs_back_and_one_key_per_distinct_pair(seed: int) -> None:
    """``pair_key`` packs two integer codes into one: every pair comes back whole from ``//``
    and ``%``, equal pairs share a key, different pairs never do, and the keys sort as the
    pairs do, up to codes of 2^31 - 1 (where a wrong span or a 32-bit product would collide)
    and with a first code from below zero (network_topic's outlier topic, -1)."""
    import numpy as np

    from analysis.models.common import key_span, pair_key

    rng = np.random.default_rng(seed)
    top = (1 << 31) - 1
    first = np.concatenate([rng.integers(-1, top, 400), [-1, top, top, 5]])
    second = np.concatenate([rng.integers(0, 40, 400), [0, 39, 0, 39]])
    frame = pl.DataFrame({"x": first, "y": second}).vstack(
        pl.DataFrame({"x": first[:50], "y": second[:50]})  # repeated pairs
    )
    span = key_span(frame["y"])
    assert span == int(second.max()) + 1
    keyed = frame.with_columns(k=pair_key("x", "y", span, first_from=-1))
    back = keyed.select(x=pl.col("k") // span - 1, y=pl.col("k") % span)
    assert back.equals(frame)
    assert keyed["k"].n_unique() == frame.unique().height
    assert keyed.sort("k").select("x", "y").equals(frame.sort("x", "y"))
    assert key_span(pl.Series([], dtype=pl.Int64)) == 1


def test_pair_group_by_on_categorical_ids_gives_the_two_column_groups() -> None:
    """Two categorical id columns group as one integer of their codes: the same groups and
    values as the group-by on the two columns, as on their text (where no key is made), and
    a pair and its reverse never share a key."""
    import numpy as np

    from analysis.models.common import ids_pair_key, ids_span, pair_group_by

    rng = np.random.default_rng(5)
    names = [f"acct{i}" for i in range(30)]
    text = pl.DataFrame(
        {"src": rng.choice(names, 2_000), "dst": rng.choice(names, 2_000), "w": rng.random(2_000)}
    )
    cat = text.with_columns(pl.col("src", "dst").cast(pl.Categorical))
    aggs = {"w": pl.col("w").max(), "n": pl.len()}
    want = text.group_by("src", "dst").agg(**aggs).sort("src", "dst")
    for frame in (text, cat):
        got = pair_group_by(frame, "src", "dst", **aggs)
        assert (
            got.with_columns(pl.col("src", "dst").cast(pl.String)).sort("src", "dst").equals(want)
        )
    assert ids_pair_key(text, "src", "dst") is None
    assert ids_span(cat["src"], text["dst"]) is None
    # a null id keeps the two columns (a null key would be one group of (a, none), (b, none))
    holes = cat.with_columns(dst=pl.when(pl.col("w") < 0.3).then(None).otherwise(pl.col("dst")))
    assert ids_pair_key(holes, "src", "dst") is None
    grouped = pair_group_by(holes, "src", "dst", **aggs)
    assert grouped.height == holes.group_by("src", "dst").len().height > len(names) * 1.5
    there, back = ids_pair_key(cat, "src", "dst"), ids_pair_key(cat, "dst", "src")
    assert there is not None and back is not None
    keys = cat.select(there=there, back=back, same=pl.col("src") == pl.col("dst"))
    assert (keys["there"] == keys["back"]).to_list() == keys["same"].to_list()
