"""What a model fitted from everyone's data in a scoring, recorded for the writeup.

Two models borrow strength from the community through a prior fitted on the run's own data
(``engagement``: a negative binomial rate and overdispersion; ``conversation_eb``: a
gamma-Poisson mean and strength by the method of moments). The fitted values shape every score
(how far a thin account is pulled to the community), and whether a fit fell back (a pooled
rate where the NB fit failed; a prior as strong as the clip where the rates show no excess
variance) changes what a score means. They used to reach only the log; the writeup is to be
generated from the run's results, so the score stage records them
(``reports/metrics/scores.json``) and the methodology prints them beside each model's params.

A model calls :func:`note` with the scoring date and what it fitted; :func:`recording` opens a
record around the score stage's scorings. Outside one (the re-scorings of validate and
compare, a notebook) :func:`note` does nothing, so the scores stay pure functions of their
inputs: recording reads what a scoring computed, never changes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Fit:
    """One model's fit at one date: named values, how they were obtained, on how many accounts."""

    values: dict[str, float]
    method: str
    n_accounts: int


@dataclass
class Record:
    """Fits noted while a record is open, by (model, scoring date)."""

    fits: dict[tuple[str, datetime], Fit] = field(default_factory=dict)

    def at(self, model: str, as_of: datetime) -> Fit | None:
        """``model``'s fit at ``as_of`` (a model may fit at several dates in one scoring, e.g.
        ``conversation_eb``'s bands read an earlier date's rates: only the scoring date's is
        the prior of the published scores)."""
        return self.fits.get((model, as_of))


_OPEN: ContextVar[Record | None] = ContextVar("analysis_model_fits", default=None)


@contextmanager
def recording() -> Iterator[Record]:
    """Collect the fits the scorings inside the block note."""
    record = Record()
    token = _OPEN.set(record)
    try:
        yield record
    finally:
        _OPEN.reset(token)


def note(model: str, as_of: datetime, method: str, n_accounts: int, **values: float) -> None:
    """Record ``model``'s fitted ``values`` at ``as_of`` if a record is open (else nothing)."""
    record = _OPEN.get()
    if record is not None:
        record.fits[(model, as_of)] = Fit(
            {k: float(v) for k, v in values.items()}, method, int(n_accounts)
        )
