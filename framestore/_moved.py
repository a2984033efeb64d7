"""Module paths from before the layer folders, kept working for one release.

Each old path is a stand-in module that imports its new home on first use and warns
(``FutureWarning``, so scripts show it) naming the new import. ``framestore.stitch``,
``framestore.qc`` and ``framestore.recover`` are also public functions now: calling the
stand-in calls the function, without a warning, so ``framestore.qc(store)`` and the old
``framestore.qc.qc(store)`` both work.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any

# old module path -> (new module path, the public function of the same name, if any)
MOVED: dict[str, tuple[str, str | None]] = {
    "framestore.stitch": ("framestore.sessions.stitch", "stitch"),
    "framestore.qc": ("framestore.tools.qc", "qc"),
    "framestore.recover": ("framestore.tools.recover", "recover"),
    "framestore.importing": ("framestore.ingest.video", None),
    "framestore.miniscope": ("framestore.ingest.miniscope", None),
    "framestore.miniscope.recording": ("framestore.ingest.miniscope", None),
    "framestore.miniscope.synthetic": ("framestore.testing.miniscope", None),
}


class MovedModule(types.ModuleType):
    """An old module path: its attributes come from the new module, with a warning."""

    def __init__(self, name: str, target: str, function: str | None) -> None:
        super().__init__(name, f"Moved to {target} (this path works until the next release).")
        self._target = target
        self._function = function

    def _module(self) -> types.ModuleType:
        return importlib.import_module(self._target)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        child = sys.modules.get(f"{self.__name__}.{attr}")
        if child is not None:  # framestore.miniscope.recording
            return child
        value = getattr(self._module(), attr)
        new = "framestore" if attr in _public_names() else self._target
        warnings.warn(
            f"{self.__name__}.{attr} moved: use {new}.{attr} (the old path goes in the next release)",
            FutureWarning,
            stacklevel=2,
        )
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            raise TypeError(f"module {self.__name__} is not callable")
        return getattr(self._module(), self._function)(*args, **kwargs)

    @property
    def __wrapped__(self) -> Any:  # inspect.signature() and help() show the function's
        if self._function is None:
            raise AttributeError("__wrapped__")
        return getattr(self._module(), self._function)


def _public_names() -> list[str]:
    return list(getattr(sys.modules["framestore"], "__all__", []))


def install() -> dict[str, MovedModule]:
    """Register every old path in ``sys.modules``; returns them by old path."""
    modules = {}
    for old, (new, function) in MOVED.items():
        module = sys.modules.get(old)
        if not isinstance(module, MovedModule):
            module = MovedModule(old, new, function)
            sys.modules[old] = module
        modules[old] = module
    return modules
