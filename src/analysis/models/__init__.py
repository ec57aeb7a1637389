"""Influence models, one module per model, all following ``analysis.models.base.Model``.

The registry is the package itself: ``analysis.models.<name>`` is the model called ``<name>``
(imported only when asked for: ``resonance score MODEL`` loads that one). A module of this
package is a model when it defines ``NAME``; the helpers (``common``, ``params``...) are not.
Models from elsewhere (a test's toy model) join with :meth:`Registry.register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel

from analysis.models.base import Model

#: Attributes every model declares (the protocol's members).
REQUIRED = ("NAME", "TITLE", "UNIT", "OBS", "COMPONENTS", "Params", "score")


def conform(obj: Any) -> Model:
    """``obj`` (a module or any object) as a :class:`Model`, or a TypeError naming what is wrong."""
    where = getattr(obj, "__name__", repr(obj))
    missing = [a for a in REQUIRED if not hasattr(obj, a)]
    if missing:
        raise TypeError(f"model {where}: missing {', '.join(missing)} (see analysis.models.base)")
    problems = []
    if not isinstance(obj.NAME, str) or not obj.NAME.isidentifier():
        problems.append(f"NAME must be an identifier, got {obj.NAME!r}")
    for attr in ("TITLE", "UNIT", "OBS"):
        if not isinstance(getattr(obj, attr), str):
            problems.append(f"{attr} must be a string")
    comps = obj.COMPONENTS
    if not isinstance(comps, Mapping) or not all(
        isinstance(k, str) and k.startswith("c_") and isinstance(v, str) for k, v in comps.items()
    ):
        problems.append("COMPONENTS must map 'c_<name>' columns to descriptions")
    if not (isinstance(obj.Params, type) and issubclass(obj.Params, BaseModel)):
        problems.append("Params must be a pydantic model class")
    if not callable(obj.score):
        problems.append("score must be callable")
    if problems:
        raise TypeError(f"model {where}: {'; '.join(problems)}")
    return cast(Model, obj)


class Registry(Mapping[str, Model]):
    """Model name -> model: the modules of this package that define ``NAME``, plus extras."""

    def __init__(self, package: str = __name__) -> None:
        self._package = package
        self._extra: dict[str, Model] = {}

    def _module_names(self) -> list[str]:
        pkg = importlib.import_module(self._package)
        return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.ispkg)

    def _load(self, name: str) -> Model | None:
        if name in self._extra:
            return self._extra[name]
        if not name.isidentifier() or name not in self._module_names():
            return None
        module: ModuleType = importlib.import_module(f"{self._package}.{name}")
        if not hasattr(module, "NAME"):
            return None  # a helper module, not a model
        model = conform(module)
        if name != model.NAME:
            raise TypeError(f"model module {module.__name__} declares NAME = {model.NAME!r}")
        return model

    def available(self) -> set[str]:
        """Names that may be models (modules of the package and registered ones), found
        without importing anything."""
        return {*self._module_names(), *self._extra}

    def register(self, model: Any) -> Model:
        """Add a model from outside the package (returns it, checked against the protocol)."""
        checked = conform(model)
        self._extra[checked.NAME] = checked
        return checked

    def unregister(self, name: str) -> None:
        """Remove a model added with :meth:`register`."""
        self._extra.pop(name, None)

    def __getitem__(self, name: str) -> Model:
        model = self._load(name)
        if model is None:
            raise KeyError(name)
        return model

    def __iter__(self) -> Iterator[str]:
        names = [n for n in self._module_names() if self._load(n) is not None]
        return iter([*names, *(n for n in self._extra if n not in names)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._load(name) is not None


#: Every model, by name.
MODELS = Registry()


def get(name: str) -> Model:
    """The model called ``name``; a clear error listing the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None
