"""Deployment plugins: department-system adapters (automated-step handlers), prefill
providers and notification channels that a province adds without changing onevisit.

A plugin is a function ``register(registry) -> None`` that registers its handlers (or prefill
providers) on the registry it is given, as Open Forms' plugins register on theirs. onevisit
finds plugins in two places, both read once when the runtime is built:

* installed packages' entry points, group ``onevisit.handlers`` (or ``onevisit.prefill``)::

      [project.entry-points."onevisit.handlers"]
      hunan_civil_affairs = "hunan_adapters.civil_affairs:register"

* the settings ``ONEVISIT_HANDLER_PLUGINS`` / ``ONEVISIT_PREFILL_PLUGINS`` /
  ``ONEVISIT_NOTIFY_PLUGINS`` (group ``onevisit.notify``): comma-separated
  ``module:function`` names (for a module that is not packaged).

A plugin that cannot be imported, or that registers a name twice, stops start-up with one
line naming it: a deployment must not run with half of its adapters.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from engine.errors import DomainError

HANDLERS_GROUP = "onevisit.handlers"
PREFILL_GROUP = "onevisit.prefill"
NOTIFY_GROUP = "onevisit.notify"
"""Notification channel plugins: each is called with the :class:`engine.notify.channels.ChannelRegistry`."""

TargetRegistry = TypeVar("TargetRegistry")
"""The registry the plugins register on (handlers or prefill providers), handed back as given."""


class PluginError(DomainError):
    """A configured plugin could not be loaded or registered."""

    code = "plugin_error"


def _resolve(spec: str) -> Callable[[Any], None]:
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise PluginError(f"plugin {spec!r}: write it as module:function", field="plugins")
    try:
        found: Callable[[Any], None] = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"plugin {spec!r} cannot be loaded: {exc}", field="plugins") from None
    return found


def install_plugins(registry: TargetRegistry, *, group: str, configured: Iterable[str] = ()) -> TargetRegistry:
    """Call every plugin of entry-point ``group`` and every ``configured`` ``module:function``
    with ``registry``; return the registry."""
    plugins: list[tuple[str, Callable[[Any], None]]] = []
    for entry in entry_points(group=group):
        try:
            plugins.append((f"{entry.name} ({entry.value})", entry.load()))
        except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is reported the same way
            raise PluginError(f"plugin {entry.name} ({entry.value}) cannot be loaded: {exc}", field="plugins") from None
    plugins += [(spec, _resolve(spec)) for spec in configured if spec.strip()]
    for name, register in plugins:
        try:
            register(registry)
        except ValueError as exc:  # the registries refuse duplicate names with ValueError
            raise PluginError(f"plugin {name}: {exc}", field="plugins") from None
    return registry
