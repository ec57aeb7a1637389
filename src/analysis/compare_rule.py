"""Stage ``compare``: the rule that recommends a score per question (pure functions, no I/O).

:func:`recommend` picks, for every question of ``compare.questions``, the candidate that passes
the within-thread and account-level tests of ``validity.json`` and every robustness gate
(:func:`analysis.cf_report.gate_results`); :func:`candidate_reasons` says why each other
candidate fails, as codes the report's templates say in words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.cf_report import MIN_CELL_K, gate_results, gates_below_k

if TYPE_CHECKING:
    from analysis.compare import CompareParams


def _above_zero(r: dict[str, Any] | None) -> bool:
    return bool(r) and r.get("ci_low") is not None and r["ci_low"] > 0


def _reason(code: str, r: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One reason a candidate fails the rule: a code (the report's templates say it in words)
    and its numbers (an estimate with its interval, where there is one)."""
    out: dict[str, Any] = {"reason": code, **extra}
    if r is not None:
        out.update(
            value=r.get("coef", r.get("diff")), ci_low=r.get("ci_low"), ci_high=r.get("ci_high")
        )
    return out


def candidate_reasons(
    name: str,
    outcome: str,
    models_json: dict[str, Any],
    comparators: list[str],
    gates: dict[str, Any],
    below_k: list[str] | None = None,
    min_cell_k: int | None = None,
) -> list[dict[str, Any]]:
    """Why ``name`` cannot be recommended for ``outcome`` (empty: it qualifies).

    Each reason is ``{"reason": code, ...}`` (:class:`analysis.contracts.Reason`): codes
    ``no_within_thread_test``, ``no_within_thread_fit``, ``within_thread_not_above_zero``,
    ``does_not_beat`` and ``no_paired_test`` (with ``comparator``), ``no_account_level_test``,
    ``no_gain_over_activity``, ``gains_from_volume``, ``volume_untested``, ``fails_gates`` and
    ``gates_untested`` (with ``gates``). ``comparators`` are those defined on the data: a comparator among them
    without a paired difference (its fit had no finite maximum) is not beaten. ``below_k``: the
    gates of ``name`` left untested for being over fewer than ``min_cell_k`` accounts
    (:func:`analysis.cf_report.gates_below_k`); they get their own ``volume_untested`` or
    ``gates_untested`` reason, with ``k``, so that the report says why.
    """
    wt = models_json.get("within_thread") or {}
    inc = models_json.get("incremental") or {}
    why = []
    if "models" not in wt:
        why.append(_reason("no_within_thread_test", detail=wt.get("skipped")))
    else:
        r = (wt["models"].get(name) or {}).get(outcome)
        if r is None:
            why.append(_reason("no_within_thread_fit"))
        elif not _above_zero(r):
            why.append(_reason("within_thread_not_above_zero", r))
        pairs = (wt.get("paired") or {}).get(outcome) or {}
        for k in comparators:
            pr = pairs.get(f"{name}-{k}")
            if pr is None:
                if r is not None:  # (without a fit of its own the candidate has no pair at all)
                    why.append(_reason("no_paired_test", comparator=k))
            elif not _above_zero(pr):
                why.append(_reason("does_not_beat", pr, comparator=k))
    ri = ((inc.get("models") or {}).get(name) or {}).get(outcome)
    if "models" not in inc:
        why.append(_reason("no_account_level_test", detail=inc.get("skipped")))
    elif not _above_zero(ri):
        why.append(_reason("no_gain_over_activity", ri or {}))
    g = gates.get(name) or {}
    small = set(below_k or ())
    if g.get("volume") is False:
        why.append(_reason("gains_from_volume"))
    elif g.get("volume") is None:  # rule (4) is a requirement: untested is not passed
        why.append(_reason("volume_untested", **({"k": min_cell_k} if "volume" in small else {})))
    failed = [gate for gate, ok in g.items() if ok is False and gate != "volume"]
    if failed:
        why.append(_reason("fails_gates", gates=failed))
    # rule (5) asks to pass every gate: a gate without a finding (too few accounts or targets
    # to test, no interval) is not passed, as an untested volume gain is not (rule 4); one over
    # fewer than k accounts is said apart (its pass or fail would be about a small group)
    untested = [gate for gate, ok in g.items() if ok is None and gate != "volume"]
    if other := [gate for gate in untested if gate not in small]:
        why.append(_reason("gates_untested", gates=other))
    if few := [gate for gate in untested if gate in small]:
        why.append(_reason("gates_untested", gates=few, k=min_cell_k))
    return why


def recommend(
    robustness: dict[str, dict[str, Any]],
    models_json: dict[str, Any] | None,
    params: CompareParams,
    min_cell_k: int = MIN_CELL_K,
) -> dict[str, Any]:
    """Pick a model per question by the rule, from the validity and robustness metrics.

    The rule (stated for readers in ``analysis/report/templates/rule.md.j2``): baselines
    (``validate.comparators``) and peers are comparators, never candidates. A candidate is
    recommended for a question only if, on its outcome, (1) its within-thread coefficient has
    an interval above zero, (2) it beats every comparator defined on the data with a paired
    interval above zero, (3) it adds to the activity baseline at account level with an
    interval above zero, (4) it gains nothing from extra volume and (5) it passes every
    robustness gate. Among candidates that qualify, the largest within-thread coefficient wins.
    A gate over fewer than ``min_cell_k`` accounts (``privacy.min_cell_k``) is untested, not
    passed (``gates_below_k`` lists them per model).
    """
    gates = gate_results(robustness, params.gates, min_cell_k)
    small = gates_below_k(robustness, params.gates, min_cell_k)
    mj = models_json or {}
    comparators = list(mj.get("comparators") or [])
    wt = mj.get("within_thread") or {}
    tested = set(wt.get("models") or {}) | set(robustness)
    # a comparator whose score does not vary on the data is not defined there: nothing to beat
    constant = set(wt.get("constant_scores") or ())
    candidates = [m for m in robustness if m not in comparators]
    answers: dict[str, Any] = {}
    for q in params.questions:
        defined = [k for k in comparators if k in tested and k not in constant]
        table = {
            m: candidate_reasons(m, q.outcome, mj, defined, gates, small.get(m), min_cell_k)
            for m in candidates
        }
        ok = [m for m, why in table.items() if not why]
        coef = lambda m, o=q.outcome: ((wt.get("models") or {}).get(m) or {}).get(o) or {}  # noqa: E731
        if not ok:
            answers[q.question] = {
                "question": q.question,
                "model": None,
                "outcome": q.outcome,
                "comparators": defined,
                "excluded": table,
                "qualifying": [],
            }
            continue
        pick = max(ok, key=lambda m: coef(m).get("coef") or -np.inf)
        r = coef(pick)
        inc = (((mj.get("incremental") or {}).get("models") or {}).get(pick) or {}).get(q.outcome)
        answers[q.question] = {
            "question": q.question,
            "model": pick,
            "outcome": q.outcome,
            "coef": r.get("coef"),
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
            "account_coef": (inc or {}).get("coef"),
            "account_ci_low": (inc or {}).get("ci_low"),
            "account_ci_high": (inc or {}).get("ci_high"),
            "comparators": defined,
            "excluded": {m: why for m, why in table.items() if why},
            "qualifying": ok,
        }
    primary = next(
        (q.question for q in params.questions if q.outcome == params.primary_outcome), None
    )
    return {
        "recommended_model": (answers.get(primary) or {}).get("model"),
        "primary_question": primary,
        "comparators": comparators,
        "candidates": candidates,
        "by_question": answers,
        "gates": gates,
        "gates_below_k": small,
        "min_cell_k": min_cell_k,
    }
