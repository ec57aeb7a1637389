"""Log hygiene for long stages: warnings counted into one line, repeated log lines folded.

Used by the stages (``validate``, ``topics``); nothing here runs at import. ``quiet_fits``
wraps a stage's work: every Python warning raised inside (statsmodels' convergence and
perfect-separation warnings, numpy's runtime warnings) is caught, counted and logged as one
line, with each distinct warning once at debug level (``logs/resonance.log`` with ``-v``);
a log line that a model repeats at every scoring origin is shown once and then counted.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class FoldRepeats(logging.Filter):
    """Let the first record of each (logger, message template) through; count the rest."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.seen: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.name.startswith(self.prefix):
            return True
        decided = getattr(record, "_folded", None)  # one record passes every handler: count once
        if decided is not None:
            return not decided
        key = (record.name, str(record.msg))
        self.seen[key] += 1
        record._folded = self.seen[key] > 1
        return not record._folded

    def folded(self) -> int:
        """How many records were held back."""
        return sum(n - 1 for n in self.seen.values())


@contextmanager
def quiet_fits(log: logging.Logger, stage: str, fold: str = "analysis.models") -> Iterator[None]:
    """Catch and count warnings, fold repeated info lines of ``fold`` loggers, log one summary.

    Args:
        log: the stage's logger (the summary is written there).
        stage: the stage's name, first word of the summary.
        fold: logger-name prefix whose repeated info lines are folded.
    """
    folder = FoldRepeats(fold)
    # with -v (debug) every line is shown as it comes
    handlers = (
        [] if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.getLogger().handlers
    )
    for h in handlers:
        h.addFilter(folder)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for h in handlers:
            h.removeFilter(folder)
    if folder.folded():
        log.info(
            "%s: %d repeated model log lines shown once (run with -v for all)",
            stage,
            folder.folded(),
        )
    if caught:
        kinds = Counter(
            f"{w.category.__name__}: {str(w.message).splitlines()[0][:120]}" for w in caught
        )
        for text, n in kinds.most_common():
            log.debug("%s: %d x %s", stage, n, text)
        top, n_top = kinds.most_common(1)[0]
        log.info(
            "%s: %d warnings from the statistical fits caught (%d kinds; most frequent %d x %s)",
            stage,
            len(caught),
            len(kinds),
            n_top,
            top,
        )
