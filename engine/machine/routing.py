"""Where a step is decided (办理地) and by which office.

:func:`deciding_region` is the one answer to "for which region is this step decided": the
permission rules, the worklists and supervision ask it rather than reading the columns.

At release the gate's ``route`` effect (:mod:`engine.machine.effects`) asks :func:`route_step`:
the step goes to exactly one office, the office of its department at the level that decides its
item (``decided_at`` in items.yaml, else the department's ``level``) above the region it is
decided for (the answer its ``decided_for`` names, else the case's region). Where the directory
has no such office the step goes to the nearest office above, and the reason says so; the loader
refuses a bundle that would need that for a region the directory serves
(:mod:`engine.spec.routing_checks`), so a fallback only happens for a region nobody serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import object_session

from engine.db.models import Case, Step
from engine.people.offices import Office
from engine.people.regions import Level, canonical_region, level_of, region_name
from engine.people.validators import InvalidValue, validate_region_code
from engine.spec.models import Catalog, FieldSpec, StepSpec

if TYPE_CHECKING:
    from engine.runtime import Runtime

__all__ = ["LEVEL_NAMES", "Route", "deciding_region", "route_step", "routing_reason"]

LEVEL_NAMES: Mapping[Level, tuple[str, str]] = {
    Level.PROVINCE: ("省级", "province"),
    Level.CITY: ("市级", "city"),
    Level.COUNTY: ("县级", "county"),
    Level.TOWNSHIP: ("乡镇（街道）级", "township"),
    Level.VILLAGE: ("村（社区）级", "village"),
}
"""How a level is named in a routing reason (中文, English)."""


def deciding_region(case: Case, step: Step) -> str:
    """The region ``step`` of ``case`` is decided in (办理地): the region of the office release
    routed it to (``step.decided_in``), or the case's region for a step not yet routed (and old rows)."""
    return step.decided_in or case.region


@dataclass(frozen=True)
class Route:
    """Where one step goes: its office (None: none in the directory up to the province), the
    region it is decided in (the office's; without an office, the region at the deciding level),
    the level that decides it, the region it is decided for, and the reason in words."""

    office: Office | None
    decided_in: str
    level: Level
    decided_for: str
    reason: str
    """Bilingual, "English / 中文": 民政局 @ 430102 芙蓉区: item decided at county level, for …"""

    @property
    def office_id(self) -> str | None:
        return self.office.id if self.office is not None else None

    def record(self) -> dict[str, Any]:
        """What the release's audit event records about the routing."""
        return {"office": self.office_id, "office_name": self.office.name if self.office else None,
                "decided_in": self.decided_in, "decided_for": self.decided_for, "level": self.level.value,
                "reason": self.reason}


def _named(code: str) -> str:
    name = region_name(code)
    return f"{code} {name}" if name else code


def _for_region(case: Case, step: Step, spec: StepSpec,
                fields: Mapping[str, FieldSpec]) -> tuple[str, tuple[str, str]]:
    """The region the step is decided for, and how the reason says so (中文, English)."""
    case_region = canonical_region(case.region)
    if spec.decided_for is None:
        return case_region, (f"按办件所属地 {_named(case_region)}", f"for the case's region {_named(case_region)}")
    field = fields.get(spec.decided_for)
    label_zh, label_en = (field.label.zh, field.label.en) if field else (spec.decided_for, spec.decided_for)
    raw = step.entry.get(spec.decided_for, case.answers.get(spec.decided_for))
    try:
        region = canonical_region(validate_region_code(raw)) if raw not in (None, "") else None
    except InvalidValue:
        region = None
    if region is None:  # an optional answer left out: the case's region, and the reason says why
        return case_region, (f"未填{label_zh}，按办件所属地 {_named(case_region)}",
                             f"for the case's region {_named(case_region)} ({label_en} not given)")
    return region, (f"按{label_zh} {_named(region)}", f"for the {label_en} {_named(region)}")


def route_step(catalog: Catalog, fields: Mapping[str, FieldSpec], *, case: Case, step: Step,
               spec: StepSpec, home: str) -> Route:
    """The office ``step`` of ``case`` goes to (``spec``: the step as the case's bundle version has
    it; ``home``: this deployment's two-digit province). A step decided for a region of another
    province goes to no office here: the 跨省通办 exchange sends it to that province's system."""
    level = catalog.decided_at(step.item_code) if step.item_code in catalog.items else Level.COUNTY
    region, (for_zh, for_en) = _for_region(case, step, spec, fields)
    if region[:2] != home:
        province = region[:2] + "0000"
        return Route(office=None, decided_in=region, level=level, decided_for=region,
                     reason=f"decided in another province ({_named(province)}), {for_en}: sent to that province's "
                            f"system (跨省通办) / 跨省通办：{for_zh}，由 {_named(province)} 办理，经跨省通办接口流转")
    placement = catalog.offices.place(step.department, level, region)
    department = catalog.departments.get(step.department)
    dept_zh, dept_en = (department.name.zh, department.name.en) if department else (step.department, step.department)
    level_zh, level_en = LEVEL_NAMES[level]
    en = f"item decided at {level_en} level, {for_en}"
    zh = f"该事项由{level_zh}办理，{for_zh}"
    if placement.coarser:
        own_zh, own_en = LEVEL_NAMES[level_of(region)]
        en += f" (a {own_en}: decided there)"
        zh += f"（该区划为{own_zh}，由本级办理）"
    office = placement.office
    if office is None:
        return Route(office=None, decided_in=placement.target, level=level, decided_for=region,
                     reason=f"no {dept_en} office at or above {_named(placement.target)} in the office directory: {en} / "
                            f"办理机构名录中 {_named(placement.target)} 及其上级均无{dept_zh}：{zh}")
    if not placement.exact:
        en += f"; no {dept_en} office at {_named(placement.target)}, so the nearest office above"
        zh += f"；{_named(placement.target)}无{dept_zh}办理机构，由最近的上级机构办理"
    return Route(office=office, decided_in=office.region, level=level, decided_for=region,
                 reason=f"{office.name} @ {_named(office.region)}: {en} / {office.name}（{_named(office.region)}）：{zh}")


def routing_reason(runtime: Runtime, case: Case, step: Step) -> str:
    """Why a routed step is where it is, for the read models ("" before release). Worked out again
    from the case's bundle version and today's directory; if the directory has changed since
    release, the recorded office is named as routed at release (the audit event keeps the reason)."""
    if step.office is None and step.decided_in is None:
        return ""
    session = object_session(case)
    if session is None:
        return ""
    spec = runtime.spec_for(session, case).step(step.step_key)
    route = route_step(runtime.registry.catalog, runtime.registry.fields, case=case, step=step, spec=spec,
                       home=runtime.region[:2])
    if route.office_id == step.office and route.decided_in == step.decided_in:
        return route.reason
    office = runtime.registry.catalog.offices.get(step.office) if step.office else None
    name = office.name if office else (step.office or "-")
    return f"{name} @ {_named(step.decided_in or case.region)}: routed at release / 受理分派时确定"
