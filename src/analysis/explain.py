"""Plain-language explanation of every model's score for one account (``resonance explain``).

``explain(account_id, scores, params)`` is what notebooks call; the ``explain`` stage reads the
score files and prints the same text. It names, for each model, the score and where it stands
among participants, what counted and over which period, and each component's contribution.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from analysis import schema
from analysis.models import MODELS
from analysis.models.params import model_params

#: Topic components listed one by one; the rest are summed in one line.
MAX_TOPICS = 6


class ExplainError(ValueError):
    """The account cannot be explained (placeholder, unknown, or not a participant)."""


def _fmt(x: float | None) -> str:
    """A number for people: whole numbers without decimals (72, not 72.00)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{x:,.0f}"
    if x != 0 and abs(x) < 0.01:
        return f"{x:.2e}"
    return f"{x:,.2f}"


def _parts(score: float | None, parts: list[float | None]) -> list[str] | None:
    """``parts`` as printed under a score that ``_fmt`` prints, rounded so that the printed
    parts add up to the printed score; None when the parts do not add up to the score.

    Rounded one by one, a third of the demo's explanations printed parts that missed the
    printed score by 0.01 or 0.02 (klout_like: 30.74 + 24.48 + 17.35 + 1 under a score of
    73.56). Here they are rounded to the score's last printed digit (two decimals; three
    significant digits below 0.01, in the same notation) by the largest remainder: each part is within one such
    digit of its value and their sum is the score as printed.
    """
    if score is None or math.isnan(score) or any(p is None or math.isnan(p) for p in parts):
        return None
    values = [float(p) for p in parts if p is not None]
    # the score file writes every float to 10 significant digits, each on its own
    if not math.isclose(
        math.fsum(values), score, rel_tol=1e-8, abs_tol=1e-9 * max(map(abs, values), default=0)
    ):
        return None
    digits = 2 if score == 0 or abs(score) >= 0.01 else 2 - math.floor(math.log10(abs(score)))
    scale = 10**digits
    target = round(float(f"{score:.{digits}f}") * scale)
    floors = [math.floor(v * scale) for v in values]
    short = target - sum(floors)
    if not 0 <= short <= len(values):
        return None
    # the parts with the largest remainders get the missing last digits (ties: the larger part)
    order = sorted(range(len(values)), key=lambda i: (-(values[i] * scale - floors[i]), -values[i]))
    for i in order[:short]:
        floors[i] += 1
    if digits == 2:
        return [
            _fmt(v) if float(v).is_integer() and n == v * scale else f"{n / scale:,.{digits}f}"
            for v, n in zip(values, floors, strict=True)
        ]
    # a score _fmt prints as 1.87e-15: the parts in the same notation, to the same last digit
    return ["0" if n == 0 else f"{n / scale:.{len(str(abs(n))) - 1}e}" for n in floors]


def topic_name(label: str | None, topic_id: str | int) -> str:
    """``'meter, panels, solar' (topic 0)`` from a topics.parquet label ``0_meter_panels_solar``."""
    if not label:
        return f"topic {topic_id}"
    words = label.split("_", 1)[1] if label.split("_", 1)[0].lstrip("-").isdigit() else label
    return f"'{words.replace('_', ', ')}' (topic {topic_id})"


def _standing(row: dict[str, Any], n_scored: int, n_above: int | None) -> str:
    """Where the score stands: rank among the scored, never "higher than 100 % of N"."""
    if n_above is None:  # no score column to rank by: the percentile alone
        return f"at percentile {row['score_pct']:.0f} of the {n_scored} scored participants"
    rank = n_above + 1
    # the percentile of the score file beside the rank (ties share their average rank there)
    pct = row.get("score_pct")
    pct_txt = "" if pct is None or math.isnan(pct) else f"percentile {pct:.1f}"
    if rank == 1:
        return f"the highest of the {n_scored} scored participants" + (
            f" ({pct_txt})" if pct_txt else ""
        )
    return f"ranked {rank} of the {n_scored} scored participants ({n_above} score higher" + (
        f"; {pct_txt})" if pct_txt else ")"
    )


def _period(row: dict[str, Any]) -> str:
    as_of: datetime = row["as_of"]
    end = as_of.strftime("%Y-%m-%d %H:%M UTC")
    if row.get("window_start_at") is not None:
        start = row["window_start_at"].strftime("%Y-%m-%d")
        return f"activity from {start} up to (not including) {end}, every item counted fully; older activity counts nothing"
    hl = row.get("half_life_days")
    if hl is None or (isinstance(hl, float) and math.isnan(hl)):
        # conversation_eb: memory is counted in the account's own items, not in days
        return (
            f"all activity before {end}, recent items weighted by their order among the "
            "account's own items (silent days count nothing)"
        )
    return (
        f"all activity before {end}, each item weighted by its age: its weight halves every "
        f"{hl:g} days (an item {hl:g} days old counts half, {2 * hl:g} days old a quarter)"
    )


def _describe(model: str, comp: str, labels: dict[str, str] | None = None) -> str:
    module = MODELS.get(model)
    # PLAIN_COMPONENTS: network_topic's, when it fell back to plain PageRank (no topics)
    known = {**getattr(module, "PLAIN_COMPONENTS", {}), **getattr(module, "COMPONENTS", {})}
    desc = known.get(comp) if module else None
    if desc:
        return desc
    if comp.startswith("c_topic_"):
        from analysis.models.network_topic import describe, topic_of

        tid = topic_of(comp)
        return describe(topic_name((labels or {}).get(tid), tid))
    return comp.removeprefix("c_").replace("_", " ")


def explain_model(
    model: str,
    row: dict[str, Any],
    n_scored: int,
    n_above: int | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """The paragraph for one model's row of one account.

    Args:
        model: the model's name.
        row: the account's row of the model's score frame.
        n_scored: how many participants the model scored.
        n_above: how many of them score strictly higher (None: say the percentile only).
        labels: topic id (as text) -> topic label of ``data/processed/topics.parquet``.
    """
    module = MODELS.get(model)
    title = getattr(module, "TITLE", model)
    unit = getattr(module, "UNIT", "")
    obs = getattr(module, "OBS", "observations")
    lines = [f"{title} [{model}]"]
    se = row.get("score_se")
    se_txt = f" (± {_fmt(se)} standard error)" if se is not None and not math.isnan(se) else ""
    lines.append(
        f"  Score {_fmt(row['score'])} {unit}{se_txt}: {_standing(row, n_scored, n_above)}."
    )
    lines.append(f"  What counted: {row['n_obs']} {obs}; {_period(row)}.")
    comps = sorted((k for k in row if k.startswith("c_")), key=lambda k: -abs(row[k] or 0))
    if comps:
        shown = [c for c in comps if not c.startswith("c_topic_")] + [
            c for c in comps if c.startswith("c_topic_") and row[c]
        ][:MAX_TOPICS]
        items = [(row[c], _describe(model, c, labels)) for c in comps if c in shown]
        rest = [row[c] for c in comps if c not in shown and row[c]]
        if rest:
            items.append((sum(rest), f"{len(rest)} other topics together"))
        printed = _parts(row["score"], [v for v, _ in items])
        if printed is None:  # not a sum (a model whose docstring says how its parts combine)
            lines.append("  Made of:")
            printed = [_fmt(v) for v, _ in items]
        else:
            lines.append("  Made of (in the score's units; the parts add up to it):")
        lines.extend(
            f"    {num:>10}  {desc}" for num, (_, desc) in zip(printed, items, strict=True)
        )
    extras = {
        k: v for k, v in row.items() if k in set(getattr(module, "EXTRA", ())) and v is not None
    }
    if row.get("top_topic") is not None:
        extras["top_topic"] = topic_name(
            (labels or {}).get(str(row["top_topic"])), row["top_topic"]
        )
    if extras:
        lines.append(
            "  Also: "
            + ", ".join(
                f"{k.replace('_', ' ')} {_fmt(float(v)) if isinstance(v, int | float) else v}"
                for k, v in extras.items()
            )
        )
    if row.get("missing_inputs"):
        lines.append(f"  Not available on this platform (left out): {row['missing_inputs']}.")
    return "\n".join(lines)


def divergence_text(row: dict[str, Any], models: dict[str, str], high: dict[str, float]) -> str:
    """Where the account's reach and its conversation part (a row of ``divergence.parquet``,
    the divergence stage's ``models`` and high-side thresholds ``high``, in percentiles)."""
    head = (
        f"Reach against conversation (reach model {models['reach']}, conversation model "
        f"{models['conversation']}):"
    )
    if row.get("quadrant") is None:
        return (
            f"{head}\n  Not placed: its platform records no reach (no follower counts, no "
            "views), and a reach of zero would only rank the platform."
        )
    gap = row.get("divergence")
    side = "more" if gap is not None and gap >= 0 else "less"
    said = (
        ""
        if gap is None
        else f"; {abs(gap):.1f} percentile points {side} conversation than its reach predicts "
        "(the line fitted over every account placed)"
    )
    return (
        f'{head}\n  "{row["quadrant"]}": reach at percentile {row["reach_pct"]:.0f}, '
        f"conversation at percentile {row['conversation_pct']:.0f} (high: at or above "
        f"percentile {high['reach']:g} and {high['conversation']:g}){said}."
    )


def explain(
    account_id: str,
    scores: dict[str, pl.DataFrame],
    params: Any = None,
    accounts: pl.DataFrame | None = None,
    topics: pl.DataFrame | None = None,
    divergence: pl.DataFrame | None = None,
) -> str:
    """Every model's score and components for ``account_id``, in plain language.

    Args:
        account_id: the pseudonym (``acct_...``) of a participant.
        scores: model name -> that model's score frame (``data/processed/scores/<model>.parquet``).
        params: the params dict or ``ModelParams`` (for the order of models).
        accounts: the interim accounts table, to tell non-participants from unknown ids.
        topics: ``data/processed/topics.parquet`` (``topic_id``, ``label``), so that topics are
            named by their keywords, not by number.
        divergence: ``data/processed/divergence.parquet``: where the account's reach and its
            conversation part (its quadrant), said after the models.

    Raises:
        ExplainError: for the non-participant placeholder, non-participants and unknown ids.
    """
    if account_id == schema.NONPARTICIPANT_ID:
        raise ExplainError(
            f"{account_id} is the placeholder for everyone outside the study; it is never scored"
        )
    if accounts is not None:
        row = accounts.filter(pl.col("account_id") == account_id)
        if row.height and not row["is_participant"][0]:
            raise ExplainError(
                f"{account_id} is not a participant (never posted): nothing is scored"
            )
    p = model_params(params)
    order = [n for n in p.names if n in scores] + [n for n in scores if n not in p.names]
    labels = (
        {str(t): lab for t, lab in topics.select("topic_id", "label").iter_rows()}
        if topics is not None
        else None
    )
    parts = []
    for name in order:
        df = scores[name]
        hit = df.filter(pl.col("account_id") == account_id)
        if hit.height:
            row = hit.row(0, named=True)
            above = None
            if row.get("score") is not None:
                above = df.filter(pl.col("score") > row["score"]).height
            parts.append(explain_model(name, row, df.height, above, labels))
    if not parts:
        # not repeated: what was typed may be a raw name or handle, or the pseudonym of an
        # erased account, and this message goes to logs/resonance.log, which the audit scans
        raise ExplainError(
            "the account given is not a scored participant: unknown pseudonym, or not a "
            "participant. Pseudonyms look like acct_...; `resonance forget` works from raw ids "
            "instead"
        )
    if divergence is not None:
        hit = divergence.filter(pl.col("account_id") == account_id)
        if hit.height:
            from analysis.config import section
            from analysis.divergence import DivergenceParams

            dp = section(params if isinstance(params, dict) else {}, "divergence", DivergenceParams)
            parts.append(
                divergence_text(
                    hit.row(0, named=True),
                    {"reach": dp.reach_model, "conversation": dp.conversation_model},
                    {"reach": dp.reach_high_pct, "conversation": dp.conversation_high_pct},
                )
            )
    return f"Account {account_id}\n\n" + "\n\n".join(parts) + "\n"
