"""The software's own words and phrases, which the audit (``analysis.audit``) reads past.

The report's captions and the writeup's prose are written by Resonance itself: a handle or
display name equal to one of their words or phrases is not leaked by that prose. Reads the
package's own source files and templates (never an output); writes nothing.
"""

from __future__ import annotations

import ast
import functools
import itertools
import re
from pathlib import Path

from analysis.privacy import TOKEN, WORD, fold

#: modules whose literals are data, not prose (the simulators' topic vocabularies)
NOT_PROSE = frozenset({"demo.py", "demo_world.py", "_unicode_unsafe.py"})
#: files of the package that hold the report's prose as text
TEMPLATE_SUFFIXES = frozenset({".j2", ".jinja", ".html", ".md", ".css", ".txt"})
#: modules whose docstrings name example people ("thanks nell trent"); never printed in outputs
EXAMPLE_NAMES = frozenset(
    {
        "privacy.py",
        "privacy_keys.py",
        "privacy_opt_out.py",
        "names.py",
        "name_forms.py",
        "scrub.py",
        "scrub_names.py",
        "scrub_patterns.py",
        "audit.py",
        "audit_scan.py",
        "audit_software.py",
    }
)


@functools.cache
def _literals_by_file() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each file of the package (by name) with its string literals, docstrings included, or,
    for a template, its text: the files read and parsed once per process (~1.9 s)."""
    root = Path(__file__).parent
    out: list[tuple[str, tuple[str, ...]]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix in TEMPLATE_SUFFIXES:
            out.append((path.name, (path.read_text(encoding="utf-8"),)))
        elif path.suffix == ".py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            out.append(
                (
                    path.name,
                    tuple(
                        node.value
                        for node in ast.walk(tree)
                        if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    ),
                )
            )
    return tuple(out)


@functools.cache
def _software_literals(leave_out: frozenset[str] = NOT_PROSE) -> tuple[str, ...]:
    """The string literals of Resonance's own code, docstrings included (simulators left out),
    and the text of its templates (the report's prose)."""
    return tuple(
        literal
        for name, literals in _literals_by_file()
        if name not in leave_out
        for literal in literals
    )


@functools.cache
def software_words() -> frozenset[str]:
    """Words in the string literals of Resonance's own code, docstrings included, and in the
    report's templates.

    The report's captions and the writeup's prose are written by the software ("near zero",
    "median abs", "week (starting Monday, UTC)"; the model definitions are the models'
    docstrings): a handle or display name equal to one of
    these words is not leaked by that prose. The scrubber still redacts such handles in post
    texts; only the audit reads past them.
    """
    words: set[str] = set()
    for literal in _software_literals():
        for w in WORD.findall(literal):
            # "median_abs" is printed as "median abs" too; the parts of "-apple-system" (the
            # pages' font stack) are read as words, as the affix rule reads "name-style"
            parts = [p for p in (w, *re.split(r"[_\-]", w)) if p]
            # a lower-case name is matched in any case: "monday" meets "Monday"
            words.update(parts + [p.lower() for p in parts])
    return frozenset(words)


def _phrase(text: str) -> str:
    """A text as its case-folded words, one space apart and padded: the form phrases meet in."""
    return " " + " ".join(TOKEN.findall(fold(text))) + " "


@functools.cache
def software_prose() -> str:
    """The software's string literals as one folded phrase corpus (see :func:`_phrase`).

    The privacy modules are left out: their docstrings name example people to redact.
    """
    literals = _software_literals(NOT_PROSE | EXAMPLE_NAMES)
    return "\n".join(_phrase(literal) for literal in literals)


@functools.cache
def _prose_pairs() -> frozenset[tuple[str, str]]:
    """Every two words that follow each other in :func:`software_prose` (within one literal)."""
    pairs: set[tuple[str, str]] = set()
    for line in software_prose().split("\n"):
        words = line.split()
        pairs.update(itertools.pairwise(words))
    return frozenset(pairs)


def is_software_phrase(name: str) -> bool:
    """A multi-word name that our own prose writes as a phrase ("At the fixed point").

    Multi-word names are matched in any case, so a display name "Fixed Point" would otherwise
    be "found" in the network model's definition that the writeup prints. Like
    :func:`software_words` for one-word names, this only lets the audit read past the
    software's own prose; the scrubber still redacts the name in post texts.
    """
    phrase = _phrase(name)
    words = phrase.split()
    # A phrase in the prose has each of its word pairs there: most names fail on a pair (a set
    # lookup) instead of a search of the whole prose (61,297 PHEME names: 11.4 s -> 0.1 s).
    return (
        len(words) > 1
        and all(pair in _prose_pairs() for pair in itertools.pairwise(words))
        and phrase in software_prose()
    )
