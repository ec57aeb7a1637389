"""Typed results passed between stages: what ``validate`` and ``compare`` write and the next
stage loads (``compare`` reads the validity, ``report`` reads both).

Each result is a pydantic model: the writing stage builds it (a typo'd or missing field fails
there), dumps it to a data file under ``data/processed/`` and writes a small headline of it to
``reports/metrics/`` for ``dvc metrics show/diff``; the reading stage loads the data file back
through the same model (:func:`load`), so both sides agree on one shape.

* :class:`ValidityResult`: ``data/processed/validity.json`` (``validate``) -> ``compare``,
  ``report``; headline ``reports/metrics/models.json``.
* :class:`CompareResult`: ``data/processed/compare.json`` (``compare``) -> ``report``;
  headline ``reports/metrics/compare.json``.
* :class:`TopicFit`: ``data/processed/topic_model.json`` (``topic_fit``) -> ``topics``; its
  figures reach ``reports/metrics/topics.json`` through ``topics``.

Deeply nested statistics whose shape belongs to one function (the counterfactual curves, the
within-thread fits) are typed as plain mappings of numbers: the model checks where they are,
the producing function documents what they hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Number = float | int | None
M = TypeVar("M", bound=BaseModel)


class Contract(BaseModel):
    """Base of the stage results: immutable; a key the model does not declare is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def write(result: BaseModel, path: Path) -> None:
    """Write ``result`` as sorted, indented JSON (byte-identical for identical results)."""
    from analysis.io import write_json

    write_json(result.model_dump(mode="json"), path)


def load(model: type[M], path: Path) -> M:
    """Load ``path`` through ``model``; a missing file or a shape the model does not declare
    fails with the file's name."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the stage that writes it (dvc repro)")
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} does not match {model.__name__}: {exc}") from exc


# ---------------------------------------------------------------- topic_fit


class TopicFit(Contract):
    """The fitted topics (``analysis.stages.topic_fit``), and the rule that gives any post one.

    ``topics`` assigns every post through :attr:`assign_centroids` (the nearest by cosine,
    :class:`analysis.topics_clustering.Assigner`): the posts the fit saw and, when the stage is
    frozen on a schedule (``dvc freeze topic_fit``), the posts written since. Holds no
    pseudonym and no post text: centroids (float32 values), keywords, counts and the time of
    the latest post fitted, so ``topics`` assigns the posts of a rotated key by it. ``topics``
    refuses a fit of other vectors (:attr:`vectors`: another model, revision, route or token
    limit); the report refuses one computed before ingest removed an account
    (:attr:`removed_accounts_sha256`, keyed: a key rotation changes it too).
    """

    method: str
    #: the vectors fitted: ``model@revision[+route recipe][+max N]`` (``embed.vector_space``)
    vectors: str
    #: topics found; ids are ``0 .. n_topics - 1``, by size over the posts fitted (0 = largest)
    n_topics: int
    dim: int
    #: the fit's unit-norm centroids in the fit's order and each one's topic id (-1: a centroid
    #: no post joined, never chosen; kept so that the assignment's matrix product is the fit's)
    assign_centroids: list[list[float]]
    assign_topic_ids: list[int]
    #: HDBSCAN: a post whose best cosine is below this belongs to no topic; else null
    outlier_min_cosine: float | None
    #: each topic's unit-norm mean over the posts fitted (the soft memberships' centroids)
    centroids: list[list[float]]
    #: each topic's c-TF-IDF keywords over the posts fitted, by topic id (words that at least
    #: ``privacy.min_cell_k`` distinct authors use in the topic: ``topics_keywords``)
    keywords: list[list[str]]
    #: posts with a vector that the fit clustered, and the latest one's ``created_at`` (ISO)
    n_posts: int
    fitted_through: str | None
    #: posts of the fitting sample the clusterer left out (HDBSCAN's -1), and how many of them
    #: the rule gave a topic (their best cosine reaches ``outlier_min_cosine``)
    n_sample_outliers: int
    n_sample_outliers_assigned: int
    stability_mean_pairwise_ari: float | None
    topic_diversity: float | None
    #: ingest's digest of the removed accounts (``removed_accounts_sha256`` of
    #: ``reports/metrics/ingest.json``) when the fit ran; ``topics`` passes it on to
    #: ``reports/metrics/topics.json`` and the report refuses a fit whose digest is not the
    #: current one: its keywords (published) may rest on the posts of an account erased,
    #: flagged a minor or opted out since (a frozen ``topic_fit``)
    removed_accounts_sha256: str | None = None
    #: ``privacy.min_cell_k`` the keywords were chosen at (each word used by at least this many
    #: distinct authors); ``topics`` passes it on and the report refuses a fit of a smaller k
    #: than the current one (a frozen ``topic_fit`` after k was raised); None: not recorded
    min_cell_k: int | None = None


class TopicEval(Contract):
    """The topics against ground truth (stage ``topic_eval``): the attribution of the
    ``topics`` stage checked against the demo's planted subjects and a Stack Exchange site's
    answer tags (:mod:`analysis.attribution_eval`).

    An evaluation like ``validate`` and ``compare``, so it may be frozen on a schedule (``dvc
    freeze topic_eval``): on a large site the out-of-sample tag check was most of a topics run
    (at 1M synthetic posts 4-5 s of 9, session 39). :attr:`as_of` (one second after the latest post it
    saw, the posts' own date: the check reads no score) and :attr:`removed_accounts_sha256`
    let the report say a frozen result's date and refuse one computed with an account removed
    since. No pseudonym: counts, rates and intervals.
    """

    #: one second after the latest post evaluated (ISO, UTC); None: no post
    as_of: str | None
    #: posts in the evaluated data
    n_posts: int
    #: ingest's digest of the removed accounts when it ran (``TopicFit.removed_accounts_sha256``)
    removed_accounts_sha256: str | None = None
    #: the demo's planted-truth check (``attribution_eval.evaluate_demo``), unsuppressed; null
    #: without ground truth (``source.truth_path``)
    demo: dict[str, Any] | None = None
    #: the answer-tag check (``attribution_eval.evaluate_tags``); null without answers
    answer_tags: dict[str, Any] | None = None
    #: the params sections it ran with (``config.params_record``: topic_eval, and topics: the
    #: attribution rule it checks); the report names what differs now (a frozen stage)
    params: dict[str, Any] | None = None
    #: ``privacy.min_cell_k`` its published headline (``reports/metrics/topic_eval.json``) hides
    #: smaller groups at; the report refuses a smaller k than the current one (a frozen stage
    #: after k was raised: the headline may publish a small group) and names a larger one
    min_cell_k: int | None = None


# ---------------------------------------------------------------- validate


class PlantedRoleAuc(Contract):
    """AUC of telling planted positives from negatives, with its 95 % interval."""

    auc: float | None
    auc_experts: float | None
    n_positive: int
    n_negative: int
    ci_low: float | None = None
    ci_high: float | None = None


class PlantedRoles(Contract):
    positive: list[str]
    negative: list[str]
    models: dict[str, PlantedRoleAuc]


class NbGlm(Contract):
    alpha: float | None = None
    coef_per_sd: float | None = None
    p_value: float | None = None
    pseudo_r2: float | None = None


class OutOfTimeFit(Contract):
    """Spearman rho of a score with one outcome of the next window, its interval, the GLM."""

    spearman: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    nb_glm: NbGlm = NbGlm()


class OutOfTime(Contract):
    scored_at: str
    outcome_until: str
    delta_days: float
    n_accounts: int
    reactions_source: str | None = None
    models: dict[str, dict[str, OutOfTimeFit]]


class ValidityResult(Contract):
    """Everything ``validate`` found (``analysis.stages.validate``)."""

    as_of: str
    #: ingest's digest of the removed accounts (``removed_accounts_sha256`` of
    #: ``reports/metrics/ingest.json``) when the stage ran: the report refuses a result whose
    #: digest is not the current one (an account erased, flagged a minor or opted out since)
    removed_accounts_sha256: str | None = None
    n_participants: int
    comparators: list[str]
    missing_inputs: dict[str, list[str]]
    #: the headline test (``analysis.models.within_thread.within_thread``)
    within_thread: dict[str, Any]
    #: account-level incremental validity (``analysis.models.incremental.incremental``)
    incremental: dict[str, Any]
    ranking: dict[str, Any]
    out_of_time: OutOfTime
    planted_roles: PlantedRoles | None = None
    reputation: dict[str, Any] | None = None
    #: the params sections it ran with (``config.params_record``: models, validate, topics);
    #: the report names what differs now (a frozen stage)
    params: dict[str, Any] | None = None

    def headline(self) -> dict[str, Any]:
        """``reports/metrics/models.json``: per model the headline test's coefficient on
        conversation and, on the demo, the planted-role AUC (one short line per model in
        ``dvc metrics show``; every other number is in ``data/processed/validity.json``)."""
        wt = self.within_thread.get("models") or {}
        pr = self.planted_roles.models if self.planted_roles is not None else {}
        models: dict[str, dict[str, Number]] = {}
        for name in sorted(set(wt) | set(pr)):
            row: dict[str, Number] = {
                "conversation_coef": ((wt.get(name) or {}).get("conversation") or {}).get("coef")
            }
            if name in pr:
                row["planted_auc"] = pr[name].auc
            models[name] = row
        return {
            "n_participants": self.n_participants,
            "n_competitions": self.within_thread.get("n_competitions"),
            "models": models,
        }


# ---------------------------------------------------------------- compare


class Estimate(Contract):
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class AgreementPair(Contract):
    """One pair of models: every agreement statistic with its bootstrap interval."""

    model_a: str
    model_b: str
    n_accounts: int
    statistics: dict[str, Estimate]


class QuadrantCount(Contract):
    n: int
    share: float | None


class OlsFit(Contract):
    n: int
    intercept: float | None = None
    slope: float | None = None
    #: the slope's 95 % interval (``divergence.slope_interval``); None in results written
    #: before it, and where the slope is
    slope_ci_low: float | None = None
    slope_ci_high: float | None = None
    r2: float | None = None


class RoleRate(Contract):
    n_role: int | None
    rate: float | None
    #: the rate's exact (Clopper-Pearson) 95 % interval; None where suppressed (and in results
    #: written before it)
    ci_low: float | None = None
    ci_high: float | None = None
    suppressed: bool


class Divergence(Contract):
    models: dict[str, str]
    thresholds_pct: dict[str, float]
    quadrants: dict[str, QuadrantCount]
    #: no follower counts and no views (Usenet): nobody is placed in a quadrant
    reach_missing: bool
    #: platforms without reach data, whose accounts are not placed (Reddit beside Stack Exchange)
    reach_missing_platforms: list[str] = []
    ols: OlsFit
    planted_roles: dict[str, RoleRate] | None = None


class DivergenceResult(Divergence):
    """What ``divergence`` found (``analysis.stages.divergence``): reach against conversation."""

    #: the scores' date (``models.as_of``, else the last post + 1 s)
    as_of: str

    # its headline, ``reports/metrics/divergence.json``, is published: small cells suppressed
    # (``analysis.divergence.headline``)


class Reason(Contract):
    """Why a candidate fails the rule (``analysis.compare_rule.candidate_reasons``); the report's
    template ``reasons.j2`` says it in words."""

    reason: Literal[
        "no_within_thread_test",
        "no_within_thread_fit",
        "within_thread_not_above_zero",
        "does_not_beat",
        "no_paired_test",
        "no_account_level_test",
        "no_gain_over_activity",
        "gains_from_volume",
        "volume_untested",
        "fails_gates",
        "gates_untested",
    ]
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    comparator: str | None = None
    gates: list[str] = []
    #: why a test did not run (the validate stage's own words)
    detail: str | None = None
    #: ``volume_untested``/``gates_untested`` only: set where the gates are untested because each
    #: is over fewer than this many accounts (``privacy.min_cell_k``: a small group)
    k: int | None = None


class Answer(Contract):
    """The rule's answer to one question (``analysis.compare_rule.recommend``)."""

    question: str
    outcome: str
    model: str | None
    coef: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    #: the chosen model's account-level coefficient over the activity baseline
    account_coef: float | None = None
    account_ci_low: float | None = None
    account_ci_high: float | None = None
    #: comparators defined on this data (the chosen model beats each of them)
    comparators: list[str] = []
    qualifying: list[str] = []
    #: candidate -> why it was not recommended
    excluded: dict[str, list[Reason]] = {}


class Recommendation(Contract):
    recommended_model: str | None
    primary_question: str | None
    comparators: list[str]
    candidates: list[str]
    by_question: dict[str, Answer]
    gates: dict[str, dict[str, bool | None]]
    #: model -> its gates left untested (None) for being over fewer than ``min_cell_k`` accounts
    gates_below_k: dict[str, list[str]] = {}
    min_cell_k: int | None = None


class Counterfactual(Contract):
    """The counterfactual tests (``analysis.counterfactual.headline``)."""

    n_sample: int
    n_targets: int
    batch_size: int
    ring_size: int
    ring_sizes: dict[str, int]
    #: scenario -> model -> bias, noise and their intervals
    stability: dict[str, dict[str, dict[str, Any]]]
    #: adversary -> {"strength": ..., "models": model -> gain curve}
    adversaries: dict[str, dict[str, Any]]
    volume: dict[str, dict[str, Any]]
    #: the earlier figures: model -> median relative change and its companions
    weekend_off: dict[str, dict[str, Any]]
    time_off: dict[str, dict[str, Any]]
    gaming: dict[str, dict[str, Any]]
    ring: dict[str, dict[str, Any]]


class CompareResult(Contract):
    """Everything ``compare`` found (``analysis.stages.compare``)."""

    as_of: str
    #: ingest's digest of the removed accounts (``removed_accounts_sha256`` of
    #: ``reports/metrics/ingest.json``) when the stage ran: the report refuses a result whose
    #: digest is not the current one (an account erased, flagged a minor or opted out since)
    removed_accounts_sha256: str | None = None
    #: the params sections it ran with (``config.params_record``: compare, demo, models,
    #: topics); the report names what differs now (a frozen stage)
    params: dict[str, Any] | None = None
    n_participants: int
    models: list[str]
    agreement: list[AgreementPair]
    counterfactual: Counterfactual
    robustness: dict[str, dict[str, Number]]
    robustness_gates: dict[str, dict[str, bool | None]]
    recommendation: Recommendation
    #: the demo only: every model against the hidden trait, per reply-trait correlation
    hidden_trait: dict[str, dict[str, dict[str, Number]]] | None = None

    def headline(self) -> dict[str, Any]:
        """``reports/metrics/compare.json``: the recommendation and the robustness gates each
        model fails, and those it could not be tested on (every other number, agreement
        included, is in ``data/processed/compare.json`` and the plot data; the
        reach-conversation split is ``divergence``'s).

        The untested count stands beside the failed one: a model without a standard error has
        no "outside its own interval" gates, and 0 failed of fewer gates is not "passes more"."""
        gates = self.robustness_gates.items()
        return {
            "n_participants": self.n_participants,
            "recommended_model": self.recommendation.recommended_model or "none",
            "gates_failed": {m: sum(v is False for v in g.values()) for m, g in gates},
            "gates_untested": {m: sum(v is None for v in g.values()) for m, g in gates},
        }
