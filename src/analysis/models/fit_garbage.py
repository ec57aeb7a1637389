"""Free a statsmodels fit's reference cycles as soon as the fit is done (stage ``validate``).

A fitted model, its results and their wrappers refer to each other, so they are freed only by
Python's cycle collector; those alive during a young collection are promoted, and the oldest
generation is collected rarely (never, in a whole ``validate`` run at 100k posts). Each holds
copies of the design (rows x columns: the IRLS's weighted copies among them), so the
incremental bootstrap's 201 baseline fits per outcome piled up ~270 MiB at 100k posts, growing
with the rows (docs/scaling-log.md). Called after the fitting function has returned (its locals
gone), a young-generation collection frees them in microseconds.
"""

from __future__ import annotations

import gc


def collect_fit_garbage() -> None:
    """Collect the young generations (where a fit's cycles are), not the whole heap."""
    gc.collect(1)
