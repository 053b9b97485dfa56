"""A small in-test bundle with automated and timer steps, on the real catalog and fields."""

from __future__ import annotations

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.machine.handlers import HandlerRegistry
from engine.runtime import Runtime
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec

AUTOMATED_BUNDLE = {
    "id": "automated_demo",
    "version": 1,
    "name": {"zh": "自动化测试事项", "en": "Automated test bundle"},
    "applicant_kind": "person",
    "time_limit": {"working_days": 10},
    "fields": [{"field": "groom_name"}, {"field": "groom_id_number"}],
    "steps": [
        {"id": "check", "item": "11-JHDJ", "kind": "automated", "handler": "data_check",
         "fields": ["groom_name", "groom_id_number"], "time_limit": {"working_days": 1}},
        {"id": "publicity", "item": "23-SYDJ", "kind": "timer", "depends_on": ["check"],
         "min_wait": {"calendar_days": 5}, "time_limit": {"calendar_days": 7}},
        {"id": "decide", "item": "09-HYZK", "depends_on": ["publicity"], "time_limit": {"working_days": 3}},
    ],
}


def automated_runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock,
                      handlers: HandlerRegistry | None = None, **changes: object) -> Runtime:
    spec = BundleSpec.model_validate({**AUTOMATED_BUNDLE, **changes})
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields, bundles={spec.id: spec})
    runtime = Runtime(registry=custom, calendar=calendar, clock=clock)
    if handlers is not None:
        runtime.handlers = handlers
    return runtime
