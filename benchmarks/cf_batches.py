"""How much the batches of the counterfactual tests move the published figures.

    cd PROJECT && python /path/to/benchmarks/cf_batches.py [--out DIR] [--params params.yaml]

Run in a project whose pipeline has run up to ``compare`` (the demo after ``dvc repro``, or a
real dump kept by ``benchmarks/real_dumps.py --keep DIR``). Re-runs every counterfactual test of
the compare stage twice on the same tables, models and params: batched (``--batch-share`` of
the participants altered per re-scoring, the design before ``batch_share: null``) and with
every sampled account altered ALONE (the stage's default: one re-scoring per account; the
rings are one group by design and the same in both). Prints, per scenario and model, how far
each account's change moves between the two designs, then the published numbers (bias beyond
placebo with its interval, noise, adversary gains, volume elasticity) and the gate decisions
under both. Writes both change tables to ``--out`` (parquet) when given. Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

from analysis import counterfactual
from analysis import models as registry
from analysis.config import PrivacyParams, load_params, section


def _load(params_path: Path):
    from analysis.stages.compare import load_inputs

    params = load_params(params_path)
    cp, mp, names, tables, as_of = load_inputs(params)
    k = section(params, "privacy", PrivacyParams).min_cell_k
    return tables, {n: registry.MODELS[n] for n in names}, mp, as_of, cp, k


def _fmt(v) -> str:
    if v is None:
        return "  None"
    if isinstance(v, float) and v != v:
        return "   nan"
    return f"{v:+.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--batch-share", type=float, default=0.05, help="the batched design's share")
    args = ap.parse_args()
    tables, models, mp, as_of, cp, k = _load(args.params)
    n_part = tables.participants().height
    alone_cf = cp.counterfactual.model_copy(update={"batch_share": None})  # batches of one
    cf = cp.counterfactual.model_copy(update={"batch_share": args.batch_share})
    size = max(1, int(args.batch_share * n_part))
    print(f"{n_part} participants, batch of {size}, {len(models)} models, as_of {as_of}")
    res, secs = {}, {}
    for label, c in (("batched", cf), ("alone", alone_cf)):
        t = time.perf_counter()
        res[label] = counterfactual.run_all(tables, models, mp, as_of, c)
        secs[label] = time.perf_counter() - t
        print(f"{label}: {secs[label]:.0f} s", flush=True)
    ch = {lab: counterfactual.changes_table(r) for lab, r in res.items()}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for lab, df in ch.items():
            df.write_parquet(args.out / f"changes_{lab}.parquet")
    keys = ["scenario", "strength", "model", "account_id"]
    both = ch["batched"].join(ch["alone"], on=keys, suffix="_alone")
    both = both.with_columns(
        d_pts=(pl.col("pct_frozen") - pl.col("pct_base_frozen"))
        - (pl.col("pct_frozen_alone") - pl.col("pct_base_frozen_alone")),
        d_score=(pl.col("score_cf") - pl.col("score_cf_alone")).abs()
        / pl.max_horizontal(pl.col("score_base").abs(), pl.lit(1e-12)),
    )
    print("\nper-account |change batched - change alone| (percentile points), per scenario:")
    per = (
        both.group_by("scenario", "model", maintain_order=True)
        .agg(
            n=pl.len(),
            med=pl.col("d_pts").abs().median(),
            p90=pl.col("d_pts").abs().quantile(0.9),
            max=pl.col("d_pts").abs().max(),
            signed=pl.col("d_pts").median(),
            moved=(pl.col("d_pts").abs() > 1e-9).mean(),
            rel_score_max=pl.col("d_score").max(),
        )
        .sort("scenario", "model")
    )
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(per)
    rob = {lab: counterfactual.robustness_table(r) for lab, r in res.items()}
    gates = {lab: counterfactual.gate_results(rob[lab], cp.gates, k) for lab in rob}
    print("\npublished numbers (batched | alone):")
    keys_shown = [
        "weekend_off_bias",
        "time_off_bias",
        "weekend_off_noise",
        "time_off_noise",
        "weekend_off_bias_pts",
        "time_off_bias_pts",
        "weekend_off_outside_excess",
        "time_off_outside_excess",
        "weekend_moved_bias",
        "volume_elasticity",
    ] + [f"{adv}_gain_at_{g.at:g}" for adv, g in cp.gates.adversaries.items()]
    worst = 0.0
    for name in rob["batched"]:
        print(f"-- {name}")
        for key in keys_shown:
            a, b = rob["batched"][name].get(key), rob["alone"][name].get(key)
            ci_a = (
                rob["batched"][name].get(f"{key}_ci_low"),
                rob["batched"][name].get(f"{key}_ci_high"),
            )
            ci_b = (
                rob["alone"][name].get(f"{key}_ci_low"),
                rob["alone"][name].get(f"{key}_ci_high"),
            )
            if a is not None and b is not None and np.isfinite(a) and np.isfinite(b):
                worst = max(worst, abs(a - b))
            print(
                f"   {key:<28} {_fmt(a)} [{_fmt(ci_a[0])}, {_fmt(ci_a[1])}]"
                f" | {_fmt(b)} [{_fmt(ci_b[0])}, {_fmt(ci_b[1])}]"
            )
    print("\ngate decisions that differ (model gate: batched -> alone):")
    n_diff = 0
    for name, gs in gates["batched"].items():
        for gate, ok in gs.items():
            if gates["alone"][name].get(gate) != ok:
                n_diff += 1
                print(f"   {name} {gate}: {ok} -> {gates['alone'][name].get(gate)}")
    print(f"   {n_diff} of {sum(map(len, gates['batched'].values()))} gates differ")
    print(f"\nlargest difference of a published number: {worst:.4f}")
    print(f"seconds: batched {secs['batched']:.0f}, alone {secs['alone']:.0f}")


if __name__ == "__main__":
    main()
