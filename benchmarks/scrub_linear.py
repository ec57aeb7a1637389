"""Scrubbing cost against text length, on adversarial texts: linear or not.

Run ``python benchmarks/scrub_linear.py`` (``--sizes 5000,10000,20000,40000`` to change the
lengths, ``--budget 20`` to give up on a shape once one call takes longer than that many
seconds). For every adversarial shape (one long word, hex, dotted words, "at"/"dot" runs,
digits, unclosed tags, ...) it prints the seconds of one ``privacy.scrub_text`` call per length,
the time per 1,000 characters, and the log-log slope of time against length: about 1 is
linear, about 2 quadratic. Figures only; nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

from analysis import privacy  # noqa: E402

#: name -> function of the length n returning a text of about n characters
SHAPES: dict[str, Callable[[int], str]] = {
    "one long word (A*n)": lambda n: "A" * n,
    "hex digits": lambda n: ("0123456789abcdef" * (n // 16 + 1))[:n],
    "dotted word (a.a.a.)": lambda n: "a." * (n // 2),
    "'x at y' runs": lambda n: "x at " * (n // 5),
    "'at dot' runs": lambda n: "a at b dot " * (n // 11),
    "digits and spaces": lambda n: "1 " * (n // 2),
    "@-chains (@a@a@a)": lambda n: "@a" * (n // 2),
    "unclosed tags (<<<)": lambda n: "<a " * (n // 3),
    "u/ slashes": lambda n: "/u/" * (n // 3),
    "open mention links": lambda n: '<a class="mention">' * (n // 19),
    "@a.a.a. dotted handle": lambda n: "@" + "a." * (n // 2),
    "dashes (a-a-a-)": lambda n: "a-" * (n // 2),
    "prose with names": lambda n: ("thanks Mara Kettle, mail mara@example.org " * (n // 42 + 1))[
        :n
    ],
}


def time_one(text: str, names: privacy.NameRedactor | None) -> float:
    """Seconds of one scrub of ``text``."""
    t0 = time.perf_counter()
    privacy.scrub_text(text, names)
    return time.perf_counter() - t0


def slope(sizes: list[int], secs: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(length)."""
    pts = [(math.log(n), math.log(max(s, 1e-6))) for n, s in zip(sizes, secs, strict=False)]
    if len(pts) < 2:
        return float("nan")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,10000,20000,40000")
    ap.add_argument("--budget", type=float, default=20.0)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = privacy.NameRedactor(["Mara Kettle", "mara_k", "Pat"])
    print(f"{'shape':28s} " + " ".join(f"{n:>9,d}" for n in sizes) + "   s/1k chars  slope")
    for label, make in SHAPES.items():
        secs: list[float] = []
        for n in sizes:
            s = time_one(make(n), names)
            secs.append(s)
            if s > args.budget:
                break
        cells = " ".join(f"{s:9.4f}" for s in secs) + " " * 10 * (len(sizes) - len(secs))
        per_k = secs[-1] / (sizes[len(secs) - 1] / 1000)
        print(f"{label:28s} {cells}   {per_k:10.5f}  {slope(sizes, secs):5.2f}")


if __name__ == "__main__":
    main()
