"""The software's own words and phrases, which the audit (``analysis.audit``) reads past.

The report's captions and the writeup's prose are written by Resonance itself: a handle or
display name equal to one of their words or phrases is not leaked by that prose. Reads the
package's own source files and templates (never an output); writes nothing.
"""

from __future__ import annotations

import ast
import functools
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
def _software_literals(leave_out: frozenset[str] = NOT_PROSE) -> tuple[str, ...]:
    """The string literals of Resonance's own code, docstrings included (simulators left out),
    and the text of its templates (the report's prose)."""
    root = Path(__file__).parent
    literals: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.name in leave_out or not path.is_file():
            continue
        if path.suffix in TEMPLATE_SUFFIXES:
            literals.append(path.read_text(encoding="utf-8"))
        elif path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    literals.append(node.value)
    return tuple(literals)


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


def is_software_phrase(name: str) -> bool:
    """A multi-word name that our own prose writes as a phrase ("At the fixed point").

    Multi-word names are matched in any case, so a display name "Fixed Point" would otherwise
    be "found" in the network model's definition that the writeup prints. Like
    :func:`software_words` for one-word names, this only lets the audit read past the
    software's own prose; the scrubber still redacts the name in post texts.
    """
    phrase = _phrase(name)
    return phrase.count(" ") > 2 and phrase in software_prose()
