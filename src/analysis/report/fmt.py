"""How the report stage prints values, and the Jinja2 environment of its templates.

One place for number formatting (:func:`num`, :func:`pval`, :func:`ordinal`), table cells
(:func:`show`: ``<k`` only where a row was suppressed) and the template environment, whose
filters are these functions. ``StrictUndefined``: a template that names a value the context
does not hold fails loudly instead of printing an empty string or "n/a".
"""

from __future__ import annotations

import html
import math
import re
from functools import cache
from typing import Any

import jinja2

from analysis import publish

#: what a null prints in a row that was not suppressed: a fit that failed or was not computed
NOT_COMPUTED = "n/a"


def num(x: Any, digits: int = 3) -> str:
    """A number as the writeup prints it: integers with thousands separators, floats rounded to
    ``digits`` decimals (scientific below 0.001), missing values as ``n/a``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NOT_COMPUTED
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and abs(x) < 10**-digits:
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def pval(x: Any) -> str:
    """A p-value as readers read it: ``< 0.001`` below 0.001 (not 2.25e-83), else 3 decimals."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NOT_COMPUTED
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def ordinal(x: Any) -> str:
    """A percentile as an ordinal: ``50th``, ``90th``, ``33rd``, ``97.5th`` (never ``50.0th``)."""
    if x is None:
        return NOT_COMPUTED
    v = float(x)
    if not v.is_integer():
        return f"{v:g}th"
    n = int(v)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def verdict(x: Any) -> str:
    """A gate's boolean as a reader reads it: ``pass`` / ``fail`` (never ``true`` / ``false``)."""
    return NOT_COMPUTED if x is None else "pass" if x else "fail"


def cell(x: Any, digits: int = 3) -> str:
    """A table cell: like :func:`num`, but a suppressed (null) count prints ``<k``."""
    return publish.SUPPRESSED if x is None else num(x, digits) if not isinstance(x, str) else x


def _is_p(col: str) -> bool:
    return col in ("p", "p_value", "pvalue") or col.endswith("_p_value")


def show(
    col: str, v: Any, suppressed: bool, digits: int = 3, bools: tuple[str, str] = ("yes", "no")
) -> str:
    """One table cell of column ``col``: ``<k`` only if the row was suppressed, ``n/a`` for any
    other null (a failed fit), booleans as ``bools``, p-values as ``< 0.001``."""
    if v is None:
        return publish.SUPPRESSED if suppressed else NOT_COMPUTED
    if isinstance(v, bool):
        return bools[0] if v else bools[1]
    if _is_p(col) and isinstance(v, float | int):
        return pval(v)
    return cell(v, digits)


def prose(text: str) -> str:
    """Escaped text with Markdown-style `code` spans as ``<code>`` (no literal backticks)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text)).replace("`", "")


@cache
def environment() -> jinja2.Environment:
    """The templates of ``analysis/report/templates`` with the filters above.

    Markdown and HTML templates share one environment; HTML escaping is explicit (``|e``)
    because the Markdown writeup must not be HTML-escaped.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis.report", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        num=num,
        pval=pval,
        ordinal=ordinal,
        verdict=verdict,
        prose=prose,
        coarsen=publish.coarsen_time,
        count=count,
    )
    env.globals.update(SUPPRESSED=publish.SUPPRESSED)
    return env


def count(x: int | None) -> str:
    """A published count of ingest (``publish.suppress_ingest_counts``): null means suppressed."""
    return publish.SUPPRESSED if x is None else num(x)


def render(template: str, **context: Any) -> str:
    """Render one template of the package with ``context``."""
    return environment().get_template(template).render(**context)


def reason(r: Any) -> str:
    """Why a candidate was not recommended (:class:`analysis.contracts.Reason`), in words."""
    return str(environment().get_template("reasons.j2").module.reason(r)).strip()
