"""Issue 9.7: deployments add handlers and prefill providers as plugins (entry points or a
setting), without changing onevisit; a broken plugin stops start-up with one line naming it."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.machine.handlers import HandlerContext, HandlerRegistry, default_handlers
from engine.people.prefill import Prefilled, PrefillContext, PrefillRequest, PrefillRegistry
from engine.plugins import HANDLERS_GROUP, PluginError, install_plugins
from engine.runtime import Runtime
from engine.settings import get_settings


def _register_handlers(registry: HandlerRegistry) -> None:
    @registry.register("hunan_civil_affairs_check")
    def check(ctx: HandlerContext) -> dict[str, Any]:
        return {"checked_by": "hunan", "key": ctx.idempotency_key}


def _register_provider(registry: PrefillRegistry) -> None:
    @registry.register("hunan_household")
    def household(_session: Session, _context: PrefillContext,
                  requests: Sequence[PrefillRequest]) -> dict[str, Prefilled]:
        return {r.field: Prefilled(r.field, "湖南", "hunan_household", "户籍库") for r in requests}


@pytest.fixture
def plugin_module() -> Iterator[str]:
    module = types.ModuleType("onevisit_test_plugin")
    module.register_handlers = _register_handlers  # type: ignore[attr-defined]
    module.register_provider = _register_provider  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


def test_the_setting_adds_handlers_and_providers_to_the_default_runtime(
    plugin_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEVISIT_HANDLER_PLUGINS", f"{plugin_module}:register_handlers")
    monkeypatch.setenv("ONEVISIT_PREFILL_PLUGINS", f" {plugin_module}:register_provider , ")
    get_settings.cache_clear()
    try:
        runtime = Runtime.default()
    finally:
        get_settings.cache_clear()
    assert "hunan_civil_affairs_check" in runtime.handlers and "data_check" in runtime.handlers
    assert [name for name, _ in runtime.prefill] == ["licence", "earlier_case", "hunan_household"]


def test_a_plugin_that_cannot_load_or_registers_twice_is_named(plugin_module: str) -> None:
    with pytest.raises(PluginError, match="no_such_module"):
        install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=["no_such_module:register"])
    with pytest.raises(PluginError, match="module:function"):
        install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=["just_a_module"])
    registry = install_plugins(default_handlers(), group=HANDLERS_GROUP, configured=[f"{plugin_module}:register_handlers"])
    with pytest.raises(PluginError, match="already registered"):
        install_plugins(registry, group=HANDLERS_GROUP, configured=[f"{plugin_module}:register_handlers"])
