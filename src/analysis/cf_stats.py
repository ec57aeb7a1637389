"""Stage ``compare``: bias, noise and gains of the counterfactual tests, with bootstrap intervals.

Reads the frames :func:`analysis.cf_rescore.rescore` returns (one row per model and altered
account: baseline and altered score, percentile re-ranked inside the altered tables, percentile
against the frozen baseline of everyone else, standard error). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from analysis.models.common import ordered_sum


def relative_change(floor_pct: float) -> pl.Expr:
    """(pct_cf - pct_base) / max(pct_base, floor_pct): the relative change of score_pct."""
    return (pl.col("pct_cf") - pl.col("pct_base")) / pl.max_horizontal(
        pl.col("pct_base"), pl.lit(floor_pct)
    )


def shift_summary(changes: pl.DataFrame, floor_pct: float) -> dict[str, dict[str, Any]]:
    """Per model: median and p90 of |relative change| of score_pct, the signed median, and n."""
    df = changes.with_columns(rel=relative_change(floor_pct)).with_columns(
        abs_rel=pl.col("rel").abs()
    )
    out = {}
    for name, g in df.group_by("model", maintain_order=True):
        out[name[0]] = {
            "n_accounts": g.height,
            "median_abs": g["abs_rel"].median(),
            "p90_abs": g["abs_rel"].quantile(0.9, "linear"),
            "median": g["rel"].median(),
            "share_falling": (g["rel"] < 0).mean(),
        }
    return out


def gaming_summary(by_multiplier: dict[float, pl.DataFrame], floor_pct: float) -> dict[str, dict]:
    """Per model: median relative change of score_pct per multiplier and the volume elasticity.

    ``volume_elasticity``: per account, the least-squares slope through the origin of the
    relative change of score_pct on the relative change of volume (the multiplier), then the
    median across accounts; ``volume_elasticity_ci``: its distribution-free 95 % interval
    over the *accounts* (:func:`median_interval`; the multipliers of one account are one unit,
    its slopes are not independent draws), None below 6 accounts. ``raw_log_elasticity``: the
    same for d log(score) / d log(volume) (accounts with a positive score before and after only).
    """
    long = pl.concat(
        [
            df.with_columns(m=pl.lit(float(m)), rel=relative_change(floor_pct))
            for m, df in by_multiplier.items()
        ]
    )
    long = long.with_columns(
        log_ratio=pl.when((pl.col("score_base") > 0) & (pl.col("score_cf") > 0)).then(
            (pl.col("score_cf") / pl.col("score_base")).log()
        ),
        log_m=(1 + pl.col("m")).log(),
    )
    # accounts in their first-seen (key-free) order, so the bootstrap draws the same people
    # under any pseudonymisation key
    long = long.with_columns(_o=pl.int_range(pl.len()).over("model"))
    per_account = (
        long.group_by("model", "account_id")
        .agg(
            slope=ordered_sum(pl.col("rel") * pl.col("m")) / ordered_sum(pl.col("m") ** 2),
            log_slope=ordered_sum(pl.col("log_ratio") * pl.col("log_m"))
            / ordered_sum((pl.col("log_m") ** 2).filter(pl.col("log_ratio").is_not_null())),
            _o=pl.col("_o").min(),
        )
        .sort("model", "_o")
    )  # the group-by's order varies from run to run; the models' and accounts' must not
    out: dict[str, dict] = {}
    for (name,), g in per_account.group_by("model", maintain_order=True):
        rel = (
            long.filter(pl.col("model") == name).group_by("m").agg(pl.col("rel").median()).sort("m")
        )
        out[name] = {
            "volume_elasticity": g["slope"].median(),
            "volume_elasticity_ci": median_interval(g["slope"].to_numpy()),
            # a slope of 1e-16 is summation noise, not an elasticity
            "raw_log_elasticity": _round12(g["log_slope"].drop_nans().median()),
            "median_rel_change": {f"+{round(100 * m)}%": v for m, v in rel.iter_rows()},
            "n_accounts": g.height,
        }
    return out


def ring_summary(changes: pl.DataFrame, floor_pct: float) -> dict[str, dict[str, Any]]:
    """Per model: median and mean relative gain of score_pct of the ring members."""
    df = changes.with_columns(rel=relative_change(floor_pct))
    return {
        name: {
            "ring_gain": g["rel"].median(),
            "ring_gain_mean": g["rel"].mean(),
            "pct_points_gained_median": (g["pct_cf"] - g["pct_base"]).median(),
            "n_members": g.height,
        }
        for (name,), g in df.group_by("model", maintain_order=True)
    }


# ---------------------------------------------------------------------------------------------
# Bias, noise and gains with intervals


def with_changes(changes: pl.DataFrame, floor_pct: float) -> pl.DataFrame:
    """Add ``pts`` (frozen percentile points: ``pct_frozen`` against the baseline ranked by the
    same rule, ``pct_base_frozen``), ``rel`` (relative to that baseline percentile),
    ``z`` (score change in standard errors; null without one) and ``rel_old`` (the old figure:
    percentiles re-ranked inside the altered tables)."""
    return changes.with_columns(
        pts=pl.col("pct_frozen") - pl.col("pct_base_frozen"),
        rel=(pl.col("pct_frozen") - pl.col("pct_base_frozen"))
        / pl.max_horizontal(pl.col("pct_base_frozen"), pl.lit(floor_pct)),
        z=pl.when(pl.col("score_se") > 0).then(
            (pl.col("score_cf") - pl.col("score_base")) / pl.col("score_se")
        ),
        rel_old=relative_change(floor_pct),
    )


def boot_interval(
    x: np.ndarray, stat: Callable[..., np.ndarray], n_boot: int, rng: np.random.Generator
) -> tuple[float | None, float | None]:
    """95 % percentile bootstrap interval of ``stat(x, axis=1)`` over resampled rows."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2 or n_boot < 1:
        return None, None
    draws = stat(x[rng.integers(0, x.size, (n_boot, x.size))], axis=1)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def median_interval(x: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free interval of the median of ``x``: two order statistics whose ranks the
    binomial distribution sets so that the interval covers the median with probability at
    least ``level`` for any continuous distribution (more with ties), by
    ``scipy.stats.quantile_test``. None below 6 values (no two order statistics reach 95 %).

    It replaced the percentile bootstrap of the median, which covered 0.91-0.94 at 10-40
    accounts (simulated: lognormal, normal and zero-heavy changes, 1,000 samples each), the
    sizes the gates are decided on; this one covered 0.948-0.981. It is wider by 7-40 % and
    draws nothing: the same changes give the same interval on any machine and seed."""
    from scipy.stats import quantile_test

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None, None
    ci = quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(level)
    lo, hi = float(ci.low), float(ci.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None, None
    return lo, hi


def _median(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else None


def _with_ci(out: dict[str, Any], key: str, x: np.ndarray) -> None:
    """``key`` (signed median) and ``key``_abs (median |x|), each with its interval."""
    out[key] = _median(x)
    out[f"{key}_ci"] = median_interval(x)
    out[f"{key}_abs"] = _median(np.abs(x))
    out[f"{key}_abs_ci"] = median_interval(np.abs(x))


def stability_summary(
    scenario: pl.DataFrame, placebo: pl.DataFrame | None, cf: Any, seed: int
) -> dict[str, dict[str, Any]]:
    """Per model: bias (signed median) and noise (median |change|) with bootstrap intervals, in
    percentile points and relative terms; the share outside the model's own interval; and, with
    a placebo, the same paired per account as the change beyond the placebo's.

    Keys per model: ``n_accounts``; ``pts``, ``pts_ci``, ``pts_abs``, ``pts_abs_ci`` (and
    ``rel*``, ``z``); ``share_outside`` (None without ``score_se``); ``share_band_changed``
    (models that publish a band; None otherwise); with a placebo
    ``placebo_pts``, ``beyond_placebo_pts`` (+ ``_ci``, ``_abs``, ``_abs_ci``) and
    ``outside_beyond_placebo``; ``old`` holds the old figures (:func:`shift_summary`).
    """
    rng = np.random.default_rng(seed)
    df = with_changes(scenario, cf.floor_pct)
    pl_df = with_changes(placebo, cf.floor_pct) if placebo is not None else None
    old = shift_summary(scenario, cf.floor_pct)
    out: dict[str, dict[str, Any]] = {}
    for (name,), g in df.group_by("model", maintain_order=True):
        r: dict[str, Any] = {"n_accounts": g.height}
        _with_ci(r, "pts", g["pts"].to_numpy())
        _with_ci(r, "rel", g["rel"].to_numpy())
        z = g["z"].drop_nulls().to_numpy()
        r["z"] = _median(z)
        r["share_outside"] = float(np.mean(np.abs(z) > cf.z_outside)) if z.size else None
        bands = g.select("band_base", "band_cf").drop_nulls()
        r["share_band_changed"] = (
            float((bands["band_base"] != bands["band_cf"]).mean()) if bands.height else None
        )
        if pl_df is not None:
            pg = pl_df.filter(pl.col("model") == name)
            paired = g.select("account_id", "pts", "rel").join(
                pg.select("account_id", pl.col("pts").alias("pts_p"), pl.col("rel").alias("rel_p")),
                on="account_id",
            )
            r["placebo_pts"] = _median(pg["pts"].to_numpy())
            r["placebo_rel"] = _median(pg["rel"].to_numpy())
            _with_ci(r, "beyond_placebo_rel", (paired["rel"] - paired["rel_p"]).to_numpy())
            _with_ci(r, "beyond_placebo_pts", (paired["pts"] - paired["pts_p"]).to_numpy())
            zp = pg["z"].drop_nulls().to_numpy()
            r["placebo_share_outside"] = (
                float(np.mean(np.abs(zp) > cf.z_outside)) if zp.size else None
            )
            r["outside_beyond_placebo"] = (
                r["share_outside"] - r["placebo_share_outside"]
                if r["share_outside"] is not None and r["placebo_share_outside"] is not None
                else None
            )
            # its interval, paired per account (the unit resampled, as for the bias)
            out_z = (
                g.select("account_id", "z")
                .join(pg.select("account_id", pl.col("z").alias("z_p")), on="account_id")
                .drop_nulls()
            )
            beyond = (out_z["z"].abs() > cf.z_outside).cast(pl.Float64) - (
                out_z["z_p"].abs() > cf.z_outside
            ).cast(pl.Float64)
            r["outside_beyond_placebo_ci"] = boot_interval(
                beyond.to_numpy(), np.mean, cf.n_boot, rng
            )
        r["old"] = old.get(name, {})
        out[name] = r
    return out


#: The smallest denominator of :func:`score_gain`, as a share of the targets' median score.
SCORE_FLOOR_SHARE = 0.1


def score_gain(g: pl.DataFrame) -> np.ndarray:
    """Each target's relative change of its *score*: ``(score_cf - score_base) / floor``, the
    floor its own baseline score, or :data:`SCORE_FLOOR_SHARE` of the targets' median positive
    baseline score where its own is smaller (a score raised from nothing, or from the decayed
    remains of old activity, is measured against a tenth of a typical active account's).

    The adversaries' gates read it beside the percentile's (:func:`adversary_curve`): the
    targets are active accounts, often at the top of a model's ranking, where a percentile has
    no room to rise (a target at the 99th percentile could gain at most 0.01 relative to it, so
    a gate of 0.25 could never fail: on beer, puppets doubled conversation's scores for a
    percentile gain of 0.003).
    """
    base = g["score_base"].fill_null(0.0).to_numpy().astype(float)
    cf = g["score_cf"].fill_null(0.0).to_numpy().astype(float)
    positive = np.abs(base[base > 0])
    typical = float(np.median(positive)) if positive.size else 1.0
    floor = np.maximum(np.abs(base), SCORE_FLOOR_SHARE * typical)
    return (cf - base) / floor


def adversary_curve(
    by_strength: dict[float, pl.DataFrame], cf: Any
) -> dict[str, list[dict[str, Any]]]:
    """Per model, one point per strength: the targets' median gain (what the gates read) with
    its interval, beside its two parts, the median relative gain of the score
    (:func:`score_gain`, ``gain_score``) and of score_pct (frozen ranking, ``gain_pct``), the
    median gain in percentile points and in standard errors, and the number of targets.

    A target's gain is the larger of its two relative gains: its standing among everyone else
    has no room to rise at the top of a ranking (a target at the 99th percentile can gain at
    most 0.01 of it), and its score may be a log of what the attack raised (conversation's
    parts are log(1 + x): a ring that doubles the repliers raises it far less than twice).
    Each part alone misses what the other shows; an attack that moves neither gains nothing."""
    out: dict[str, list[dict[str, Any]]] = {}
    for strength, changes in by_strength.items():
        df = with_changes(changes, cf.floor_pct)
        for (name,), g in df.group_by("model", maintain_order=True):
            by_score = score_gain(g)
            by_pct = g["rel"].fill_null(0.0).to_numpy().astype(float)
            gain = np.maximum(by_score, by_pct)
            lo, hi = median_interval(gain)
            out.setdefault(name, []).append(
                dict(
                    strength=float(strength),
                    gain=_median(gain),
                    gain_ci=(lo, hi),
                    gain_score=_median(by_score),
                    gain_pct=_median(by_pct),
                    gain_pts=_median(g["pts"].to_numpy()),
                    gain_z=_median(g["z"].drop_nulls().to_numpy()),
                    gain_old=_median(g["rel_old"].to_numpy()),
                    n_targets=g.height,
                )
            )
    return out


def gain_at(curve: list[dict[str, Any]] | None, strength: float) -> float | None:
    """The curve's median gain at ``strength`` (None when the curve has no such point)."""
    for point in curve or []:
        if abs(point["strength"] - strength) < 1e-9:
            return point["gain"]
    return None


def _round12(x: float | None) -> float | None:
    """``x`` rounded to 12 decimals (None stays None)."""
    return None if x is None else round(float(x), 12) + 0.0
