"""Stage ``compare``: what the counterfactual tests report (pure): compare.json's headline, the
plot tables, the flat robustness table per model, and the gates a recommended model must pass.

Reads the result of :func:`analysis.counterfactual.run_all` (scenario -> model -> summary,
adversary -> model -> curve, and the old figures); :mod:`analysis.counterfactual` re-exports
every name here, so ``counterfactual.gate_results`` and the rest keep working.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from analysis.cf_rescore import batch_size
from analysis.config import Frozen, PrivacyParams
from analysis.publish import suppress_small_cells

# ---------------------------------------------------------------------------------------------
# Params of the gates


class AdversaryGate(Frozen):
    """A gate on one adversary's curve: the targets' median gain at strength ``at``."""

    #: Strength on the curve at which the gate applies (must be one of the curve's strengths).
    at: float
    #: Largest median gain of the targets (cf_stats.adversary_curve: the larger of the relative
    #: gains of score and percentile) that passes.
    gain_max: float = Field(0.25, ge=0)


def _default_adversary_gates() -> dict[str, AdversaryGate]:
    return {
        "ring": AdversaryGate(at=20, gain_max=0.25),
        "puppets": AdversaryGate(at=20, gain_max=0.25),
        "spam_replies": AdversaryGate(at=0.1, gain_max=0.25),
        "reply_all": AdversaryGate(at=20, gain_max=0.25),
        "self_chain": AdversaryGate(at=10, gain_max=0.10),
        "exchange": AdversaryGate(at=20, gain_max=0.25),
    }


class GateParams(Frozen):
    """``compare.gates``: what a recommended model must survive.

    Stability gates are on the bias beyond placebo (frozen ranking, relative change), and
    on the extra share of altered accounts whose score leaves the model's own 95 % interval.
    Every limit applies to the 95 % interval of its number, not to the point estimate
    (:func:`gate_results`): a median's distribution-free interval
    (:func:`analysis.cf_stats.median_interval`), a share's bootstrap interval.
    """

    #: |median paired relative change of score_pct beyond placebo|, weekend off / time off
    #: (relative to the baseline percentile, as the old gates; points are reported beside).
    weekend_off_bias_max: float = Field(0.02, ge=0)
    time_off_bias_max: float = Field(0.05, ge=0)
    #: |median relative change| when weekend posts move to Friday; None: reported, not gated.
    #: The moved posts keep the responses the weekend audience gave them, so a score that reads
    #: each post against its day's audience (as it must to pass the weekend-off gate when
    #: weekend posts draw less) rightly moves here; set a number to gate it anyway.
    weekend_moved_bias_max: float | None = Field(None, ge=0)
    #: Share of altered accounts outside their own interval, beyond the placebo's share.
    outside_interval_max: float = Field(0.10, ge=0, le=1)
    #: Extra low-value posts that draw nothing must not raise the score.
    volume_elasticity_max: float = 0.0
    #: Adversary -> its gate (strength on the curve, largest gain).
    adversaries: dict[str, AdversaryGate] = Field(default_factory=_default_adversary_gates)
    #: Fewer altered accounts than this and a stability gate is untestable (None): a median of
    #: a handful of accounts (a site silent before T) decides nothing.
    min_accounts: int = Field(20, ge=1)
    #: Fewer targets than this at the gate's strength, and an adversary gate is untestable; a
    #: ring is untestable unless it has as many members as its size. Whatever these two say, a
    #: gate over fewer than ``privacy.min_cell_k`` accounts is untestable (:func:`gates_below_k`).
    min_targets: int = Field(5, ge=1)
    #: Legacy gates on the old figures (median |relative change| of re-ranked score_pct); used
    #: only when a robustness table has no bias-beyond-placebo numbers.
    weekend_off_median: float = 0.02
    time_off_median: float = 0.05
    ring_gain_max: float = 0.25
    #: Validity floor and tie tolerance read by the recommendation rule (compare_rule.recommend).
    min_spearman: float = 0.3
    spearman_tolerance: float = 0.02


#: Adversary -> (result key, what its strength counts).
ADVERSARIES = {
    "spam_replies": "share of participants in the pool that replies to the spam",
    "reply_all": "others each target replies to",
    "self_chain": "self-replies per chain (3 chains)",
    "exchange": "replies in the two-person exchange",
    "puppets": "sockpuppets per target",
    "ring": "ring members",
}


# ---------------------------------------------------------------------------------------------
# Reporting


def _stability_row(s: dict[str, Any], placebo: bool) -> dict[str, Any]:
    """The headline of one scenario for one model (bias beyond placebo where there is one)."""
    key = "beyond_placebo_" if placebo else ""
    return {
        "n_accounts": s.get("n_accounts"),
        "bias": s.get(f"{key}rel"),
        "bias_ci": s.get(f"{key}rel_ci"),
        "bias_pts": s.get(f"{key}pts"),
        "bias_pts_ci": s.get(f"{key}pts_ci"),
        "noise": s.get("rel_abs"),
        "noise_ci": s.get("rel_abs_ci"),
        "noise_pts": s.get("pts_abs"),
        "noise_pts_ci": s.get("pts_abs_ci"),
        "raw_bias": s.get("rel"),
        "raw_bias_pts": s.get("pts"),
        "placebo": s.get("placebo_rel"),
        "placebo_pts": s.get("placebo_pts"),
        "median_z": s.get("z"),
        "share_band_changed": s.get("share_band_changed"),
        "share_outside": s.get("share_outside"),
        "outside_excess": s.get("outside_beyond_placebo"),
        "outside_excess_ci": s.get("outside_beyond_placebo_ci"),
    }


def headline(result: dict[str, Any], cf: Any, n_participants: int) -> dict[str, Any]:
    """What compare.json keeps of the tests: per scenario and model the bias and noise with
    intervals, per adversary and model the gain curve, the volume elasticity, and the old
    figures in their old shape (``weekend_off``, ``time_off``, ``gaming``, ``ring``; full
    per-account tables: :func:`changes_table`)."""
    placebo = {"weekend_off", "time_off"}
    return {
        "n_sample": len(result["sample"]),
        "n_targets": len(result["targets"]),
        "batch_size": batch_size(n_participants, cf.batch_share),
        "ring_sizes": {str(k): len(v) for k, v in result["members"].items()},
        "stability": {
            sc: {m: _stability_row(s, sc in placebo) for m, s in by_model.items()}
            for sc, by_model in result["stability"].items()
        },
        "adversaries": {
            adv: {"strength": ADVERSARIES[adv], "models": curves}
            for adv, curves in result["adversaries"].items()
        },
        "volume": result["volume"],
        # the old figures, in the old shape (percentiles re-ranked inside the altered tables):
        # weekend_off, time_off, gaming, ring (of ring_size), read by the report as before
        **result["legacy"],
        "ring_size": cf.ring_size,
    }


def stability_table(result: dict[str, Any]) -> pl.DataFrame:
    """Plot data: one row per (scenario, model) with bias, noise and their intervals."""
    rows = []
    for sc, by_model in result["stability"].items():
        for m, s in by_model.items():
            h = _stability_row(s, sc in ("weekend_off", "time_off"))
            row: dict[str, Any] = {"scenario": sc, "model": m}
            for k, v in h.items():
                if isinstance(v, tuple | list):
                    row[f"{k}_low"], row[f"{k}_high"] = v
                else:
                    row[k] = v
            rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def adversary_table(result: dict[str, Any]) -> pl.DataFrame:
    """Plot data: one row per (adversary, model, strength) with the gain and its interval."""
    rows = [
        {
            "adversary": adv,
            "model": m,
            "strength": p["strength"],
            "gain": p["gain"],
            "gain_low": p["gain_ci"][0],
            "gain_high": p["gain_ci"][1],
            "gain_pts": p["gain_pts"],
            "n_targets": p["n_targets"],
        }
        for adv, by_model in result["adversaries"].items()
        for m, curve in by_model.items()
        for p in curve
    ]
    return pl.DataFrame(rows, infer_schema_length=None)


def _ci(prefix: str, ci: tuple[float | None, float | None] | None) -> dict[str, float | None]:
    lo, hi = ci or (None, None)
    return {f"{prefix}_ci_low": lo, f"{prefix}_ci_high": hi}


def robustness_table(result: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Model -> the headline numbers of every test (what the gates read), flat.

    Stability (frozen ranking; relative change of score_pct, and ``*_pts`` the same in
    percentile points): ``weekend_off_bias`` (median paired change beyond the placebo, with
    ``_ci_low``/``_ci_high``), ``weekend_off_noise`` (median |change|, with interval),
    ``weekend_off_raw_bias`` (no placebo subtracted), ``weekend_off_placebo``,
    ``weekend_off_median_z``, ``weekend_off_share_outside`` and ``weekend_off_outside_excess``
    (beyond placebo), the same for ``time_off``, and ``weekend_moved_bias``/``_noise``. Adversaries:
    ``<adversary>_gain_at_<strength>`` (the targets' median gain: score or percentile), with
    ``volume_elasticity``. ``*_n`` and ``<adversary>_n_at_<strength>``: the accounts each
    number is computed over (:func:`gate_accounts`). Legacy: ``weekend_off_median_abs``, ``weekend_off_median``,
    ``weekend_off_p90_abs``, ``time_off_*`` and ``ring_gain`` (the old figures).
    """
    table: dict[str, dict[str, float | None]] = {}
    for name in result["baseline"]:
        r: dict[str, float | None] = {}
        for sc in ("weekend_off", "time_off"):
            s = result["stability"][sc].get(name, {})
            r[f"{sc}_bias"] = s.get("beyond_placebo_rel")
            r.update(_ci(f"{sc}_bias", s.get("beyond_placebo_rel_ci")))
            r[f"{sc}_noise"] = s.get("rel_abs")
            r.update(_ci(f"{sc}_noise", s.get("rel_abs_ci")))
            r[f"{sc}_raw_bias"] = s.get("rel")
            r[f"{sc}_placebo"] = s.get("placebo_rel")
            r[f"{sc}_bias_pts"] = s.get("beyond_placebo_pts")
            r.update(_ci(f"{sc}_bias_pts", s.get("beyond_placebo_pts_ci")))
            r[f"{sc}_noise_pts"] = s.get("pts_abs")
            r.update(_ci(f"{sc}_noise_pts", s.get("pts_abs_ci")))
            r[f"{sc}_raw_bias_pts"] = s.get("pts")
            r[f"{sc}_placebo_pts"] = s.get("placebo_pts")
            r[f"{sc}_median_z"] = s.get("z")
            r[f"{sc}_share_band_changed"] = s.get("share_band_changed")
            r[f"{sc}_share_outside"] = s.get("share_outside")
            r[f"{sc}_outside_excess"] = s.get("outside_beyond_placebo")
            r.update(_ci(f"{sc}_outside_excess", s.get("outside_beyond_placebo_ci")))
            r[f"{sc}_n"] = s.get("n_accounts")
        moved = result["stability"]["weekend_moved"].get(name, {})
        r["weekend_moved_bias"] = moved.get("rel")
        r.update(_ci("weekend_moved_bias", moved.get("rel_ci")))
        r["weekend_moved_noise"] = moved.get("rel_abs")
        r["weekend_moved_bias_pts"] = moved.get("pts")
        r["weekend_moved_noise_pts"] = moved.get("pts_abs")
        r["weekend_moved_n"] = moved.get("n_accounts")
        vol = result["volume"].get(name) or {}
        r["volume_elasticity"] = vol.get("volume_elasticity")
        r["volume_n"] = vol.get("n_accounts")
        r.update(_ci("volume_elasticity", vol.get("volume_elasticity_ci")))
        for adv, by_model in result["adversaries"].items():
            for point in by_model.get(name, []):
                key = f"{adv}_gain_at_{point['strength']:g}"
                r[key] = point["gain"]
                r.update(_ci(key, point.get("gain_ci")))
                r[f"{adv}_n_at_{point['strength']:g}"] = point["n_targets"]
        legacy = result["legacy"]
        for sc in ("weekend_off", "time_off"):
            old = legacy[sc].get(name) or {}
            r[f"{sc}_median_abs"] = old.get("median_abs")
            r[f"{sc}_median"] = old.get("median")
            r[f"{sc}_p90_abs"] = old.get("p90_abs")
        r["ring_gain"] = (legacy["ring"].get(name) or {}).get("ring_gain")
        table[name] = r
    return table


#: A flat robustness column's adversary point: ``<adversary>_gain_at_<strength>[_ci_*]`` or
#: ``<adversary>_n_at_<strength>``.
_ADVERSARY_POINT = re.compile(r"(?P<adv>.+?)_(?:gain|n)_at_(?P<at>[^_]+)(?:_ci_low|_ci_high)?")


def accounts_behind(column: str, row: dict[str, Any], ring_size: int) -> int | None:
    """How many accounts a column of :func:`robustness_table` is computed over (the row's own
    ``*_n`` / ``*_n_at_*``); None where the row does not say.

    Raises:
        ValueError: a column this function does not know (a new one must say its accounts
            before it reaches a plot: an unknown one could be a statistic of a small group).
    """
    point = _ADVERSARY_POINT.fullmatch(column)
    if point:
        return row.get(f"{point['adv']}_n_at_{point['at']}")
    for sc in ("weekend_moved", "weekend_off", "time_off"):
        if column.startswith(f"{sc}_"):
            return row.get(f"{sc}_n")
    if column.startswith("volume_"):
        return row.get("volume_n")
    if column == "ring_gain":  # the old figure: the median gain of a ring of ring_size members
        return ring_size
    raise ValueError(f"robustness column {column!r}: over how many accounts is not known")


def robustness_plot_table(
    robust: dict[str, dict[str, float | None]], k: int, ring_size: int
) -> pl.DataFrame:
    """:func:`robustness_table` as the DVC plot data ``reports/plots/compare/robustness.csv``:
    one row per model, every number computed over fewer than ``k`` accounts (or over a number
    the row does not give) null, its count too (``privacy.min_cell_k``: the writeup and
    ``reports/public`` hide the same cells; the plot data printed a ring of 5 members' gain)."""
    rows = []
    for model, r in robust.items():
        row: dict[str, Any] = {"model": model}
        for col, v in r.items():
            n = accounts_behind(col, r, ring_size)
            row[col] = None if n is None or n < k else v
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def plot_tables(
    result: dict[str, Any],
    robust: dict[str, dict[str, float | None]],
    k: int,
    ring_size: int,
) -> dict[str, pl.DataFrame]:
    """The compare stage's counterfactual plot data (``reports/plots/compare/``), each cell
    computed over fewer than ``k`` accounts suppressed where the table is made
    (:func:`analysis.publish.suppress_small_cells`; the report's public tables do the same):
    ``stability.csv``, ``adversaries.csv`` and ``robustness.csv``."""
    stab = stability_table(result)
    adv = adversary_table(result)
    return {
        "stability.csv": suppress_small_cells(
            stab,
            "n_accounts",
            k,
            [c for c in stab.columns if c not in ("scenario", "model", "n_accounts")],
        ),
        "adversaries.csv": suppress_small_cells(
            adv,
            "n_targets",
            k,
            [c for c in adv.columns if c not in ("adversary", "model", "strength", "n_targets")],
        ),
        "robustness.csv": robustness_plot_table(robust, k, ring_size),
    }


# ---------------------------------------------------------------------------------------------
# Gates


def _within(v: float | None, limit: float, absolute: bool = True) -> bool | None:
    if v is None or not np.isfinite(v):
        return None
    return bool((abs(v) if absolute else v) <= limit + 1e-12)


def _shown_within(r: dict[str, Any], key: str, limit: float, absolute: bool = True) -> bool | None:
    """Does the 95 % interval of ``r[key]`` lie within the limit (``|x| <= limit`` for
    ``absolute``, else ``x <= limit``)? The same rule for every model: passed only where the
    whole interval is inside, so a model whose point estimate happens to fall inside while its
    interval reaches past the limit has not shown it passes (False); None without an interval
    (too few accounts or no resamples: no finding). A table without the interval's keys (an old
    one) is read on its point estimate, as before."""
    if f"{key}_ci_high" not in r:
        return _within(r.get(key), limit, absolute)
    lo, hi = r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high")
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    worst = max(abs(lo), abs(hi)) if absolute else hi
    return bool(worst <= limit + 1e-12)


def gate_accounts(r: dict[str, Any], gates: GateParams) -> dict[str, int | None]:
    """Gate -> the accounts its number is computed over (the altered accounts of a stability
    scenario, the gaming sample for volume, the targets of an adversary at the gate's
    strength); None where the row does not say (an old or hand-made table)."""
    n: dict[str, int | None] = {"volume": r.get("volume_n")}
    for sc in ("weekend_off", "time_off"):
        n[sc] = n[f"{sc}_interval"] = r.get(f"{sc}_n")
    n["weekend_moved"] = r.get("weekend_moved_n")
    for adv, gate in gates.adversaries.items():
        n[adv] = r.get(f"{adv}_n_at_{gate.at:g}")
    return n


#: ``privacy.min_cell_k``'s default: the fewest accounts a published gate is decided on.
MIN_CELL_K: int = PrivacyParams.model_fields["min_cell_k"].default


def gates_below_k(
    robustness: dict[str, dict[str, Any]], gates: GateParams, k: int = MIN_CELL_K
) -> dict[str, list[str]]:
    """Model -> its gates whose number is computed over fewer than ``k`` accounts
    (``privacy.min_cell_k``), which :func:`gate_results` leaves untested (None).

    A gate's pass or fail over fewer than k accounts is a statistic about a small group, which
    publication never shows (:mod:`analysis.publish`; the adversary and stability tables hide
    the very numbers it reads): with 5 targets no interval of their median gain reaches 95 %,
    and the bootstrap's ended at the largest target's own gain, so a pass said that each of the
    5 gained less than the limit. Its interval is also too wide to decide on."""
    out: dict[str, list[str]] = {}
    for name, r in robustness.items():
        sizes = gate_accounts(r, gates)
        small = [g for g in _gates(r, gates) if (n := sizes.get(g)) is not None and n < k]
        if small:
            out[name] = small
    return out


def gate_results(
    robustness: dict[str, dict[str, Any]], gates: GateParams, k: int = MIN_CELL_K
) -> dict[str, dict[str, bool | None]]:
    """Model -> gate -> passed (``None`` where the test has no number: untestable).

    Gates (keys of :data:`GATE_NOTES`): ``volume`` (elasticity to extra posts drawing nothing
    at most ``volume_elasticity_max``); ``weekend_off`` and ``time_off`` (|relative bias beyond
    placebo| within the limit; on a table without those numbers, the legacy median
    |relative change|); ``weekend_moved`` (only when its limit is set; untested with fewer than ``min_accounts``
    altered accounts, as the other stability gates); ``weekend_off_interval`` and ``time_off_interval``
    (extra share outside the model's own interval at most ``outside_interval_max``; None for a
    model without a standard error); every stability gate is None with fewer than
    ``min_accounts`` altered accounts, an adversary gate with fewer than ``min_targets`` targets
    (a ring: fewer members than its size); one gate per adversary (median gain at its strength).
    Each gate reads the 95 % interval of its number (:func:`_shown_within`): passed only where
    the whole interval lies within the limit, None where there is no interval. Any gate whose
    number is over fewer than ``k`` accounts (``privacy.min_cell_k``) is None too
    (:func:`gates_below_k`): untested, never passed, and never a published pass or fail about
    a small group.
    """
    small = gates_below_k(robustness, gates, k)
    return {
        name: {
            gate: None if gate in small.get(name, ()) else ok
            for gate, ok in _gates(r, gates).items()
        }
        for name, r in robustness.items()
    }


def _gates(r: dict[str, Any], gates: GateParams) -> dict[str, bool | None]:
    """One model's gates, before the small-group rule of :func:`gate_results`."""
    g: dict[str, bool | None] = {
        "volume": _shown_within(r, "volume_elasticity", gates.volume_elasticity_max, False)
    }
    for sc, limit, legacy in (
        ("weekend_off", gates.weekend_off_bias_max, gates.weekend_off_median),
        ("time_off", gates.time_off_bias_max, gates.time_off_median),
    ):
        if f"{sc}_bias" in r:
            few = (r.get(f"{sc}_n") or 0) < gates.min_accounts
            g[sc] = None if few else _shown_within(r, f"{sc}_bias", limit)
            # a model that states no interval of its own (no standard error: nobody's score
            # can leave it) has no such gate: not applicable, unlike untested (None)
            stated = r.get(f"{sc}_share_outside", 0.0) is not None  # (a hand-made row)
            if few or stated:
                g[f"{sc}_interval"] = (
                    None
                    if few
                    else _shown_within(r, f"{sc}_outside_excess", gates.outside_interval_max, False)
                )
        else:  # an old table: median |relative change| strictly below the legacy gate
            v = r.get(f"{sc}_median_abs")
            g[sc] = None if v is None else bool(v < legacy)
    if "weekend_moved_bias" in r and gates.weekend_moved_bias_max is not None:
        # a stability scenario as the two above: too few altered accounts decide nothing
        n = r.get("weekend_moved_n")
        few = n is not None and n < gates.min_accounts
        g["weekend_moved"] = (
            None if few else _shown_within(r, "weekend_moved_bias", gates.weekend_moved_bias_max)
        )
    for adv, gate in gates.adversaries.items():
        key = f"{adv}_gain_at_{gate.at:g}"
        if key in r:
            n = r.get(f"{adv}_n_at_{gate.at:g}")
            need = max(gates.min_targets, int(gate.at)) if adv == "ring" else gates.min_targets
            few = n is not None and n < need
            g[adv] = None if few else _shown_within(r, key, gate.gain_max, False)
        elif adv == "ring" and "ring_gain" in r:  # an old table
            g[adv] = _within(r["ring_gain"], gates.ring_gain_max, False)
    return g


#: Why a model fails a gate, and what passing it would take (the recommendation quotes these).
GATE_NOTES = {
    "volume": "Extra posts that nobody answers raise the score: it counts activity, not response.",
    "weekend_off": "A weekend off costs more than removing as many random weekday posts (the "
    "placebo), or the interval of that extra cost reaches past the limit: the score punishes the weekly rhythm itself, typically because it adds up what "
    "happens per calendar day (decay by days, totals of repliers or partners). Passing takes a "
    "per-post rate, or memory counted in the person's own posts rather than in days.",
    "weekend_off_interval": "A weekend off moves more accounts outside the model's own 95 % "
    "interval than the placebo does: the published uncertainty understates how much the score "
    "changes with the rhythm of posting.",
    "weekend_moved": "Moving weekend posts to the Friday before changes the score although "
    "nothing was lost: the score depends on the calendar, not on what was said.",
    "time_off": "Time off just before the scoring date costs more than removing as many older "
    "posts at random (the placebo), or the interval of that extra cost reaches past the limit: with decay by calendar days the last vacation_days carry "
    "1 - 0.5**(days/half_life) of the weight; passing takes memory counted in the person's own "
    "posts (silent days cost nothing).",
    "time_off_interval": "Time off moves more accounts outside the model's own 95 % interval "
    "than the placebo does: the published uncertainty understates the effect of time off.",
    "ring": "Accounts that answer and like each other count as distinct, reciprocal repliers; "
    "passing takes discounting replies from dense cliques (weight each replier by how many of "
    "whom they talk with are outside the replied-to account's circle).",
    "puppets": "New accounts that reply only to the target count as distinct repliers; passing "
    "takes weighting each replier by the diversity of whom they talk with.",
    "spam_replies": "Spam that draws a reply or two from a small pool of accounts raises the "
    "score: repliers who only ever answer the same few accounts count as much as the community.",
    "reply_all": "Replying to many others to collect replies back raises the score: it rewards "
    "the replies one provokes by replying, not those one's own posts draw.",
    "self_chain": "Replying to oneself raises the score (thread depth or item counts).",
    "exchange": "One long exchange with a single partner raises the score (depth or reciprocal "
    "counts), although only one person is talking with the account.",
}

#: The old gates: gate -> (robustness key, GateParams field, strict "<" rather than "<="), kept
#: for the recommendation rule's "how far past the limits" tie-break on the old figures.
LEGACY_GATES = {
    "volume": ("volume_elasticity", "volume_elasticity_max", False),
    "weekend_off": ("weekend_off_median_abs", "weekend_off_median", True),
    "time_off": ("time_off_median_abs", "time_off_median", True),
    "ring": ("ring_gain", "ring_gain_max", False),
}
