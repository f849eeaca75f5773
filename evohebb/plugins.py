"""Plug-in modules: a config's ``plugins`` list names Python modules that register rules, environments,
continual methods or anything else with the registries, imported before the config is validated and in every
process that builds from it (each Ray actor too).

A plug-in is named by its importable module name (``my_lab.rules``: an installed package, or a module on
``PYTHONPATH`` or in the working directory, which Ray also puts on its workers' path), never by a file path:
a config that travels with a run folder or a zoo file can only name code that is already installed here, so
such a file stays data.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from evohebb.config_error import ConfigError

__all__ = ["import_plugins"]

log = logging.getLogger(__name__)


def import_plugins(names: Iterable[str]) -> None:
    """Import every module in ``names`` (a module already imported is not run again)."""
    if isinstance(names, str):
        raise ConfigError(f"plugins: {names!r} is not a list of module names (write it as [a.b, c])")
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or name.endswith(".py"):
            raise ConfigError(f"plugins: {name!r} is not a module name; allowed: importable dotted module names "
                              f"such as my_lab.rules (not file paths)")
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            raise ConfigError(f"plugins: module {name!r} cannot be imported ({err}); a plug-in must be importable "
                              f"here: installed, or on PYTHONPATH / in the working directory") from None
        log.debug("plug-in %s imported", name)
