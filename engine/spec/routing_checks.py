"""Loader checks of routing (办理地): every step of a bundle has an office to go to in every region
the office directory serves, and ``decided_for`` names a region answer. Bilingual, through the
loader's ``add(problem, loc, step)`` like every spec problem.

A missing office is refused here, when the bundle is loaded (``onevisit bundles check``, every
start that publishes the bundles), rather than found at release: at release a region without an
office sends the step to the nearest office above (see :mod:`engine.machine.routing`), which for
a served region would be a silent misroute.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from engine.people.regions import region_name
from engine.spec.models import BundleSpec, Catalog, FieldSpec, FieldType

Add = Callable[..., None]


def _named(code: str) -> str:
    name = region_name(code)
    return f"{code} {name}" if name else code


def check_routing(
    bundle: BundleSpec, *, catalog: Catalog, fields: Mapping[str, FieldSpec], declared: Collection[str], add: Add
) -> None:
    """``decided_for`` is a region_code field the bundle asks for; every item a step may work on
    (each an ``item: {by, map}`` answer may choose) has its department's office at its deciding
    level above every region the directory serves (none checked when the catalog has no offices)."""
    directory = catalog.offices
    for i, step in enumerate(bundle.steps):
        loc = ("steps", i)
        if step.decided_for is not None:
            field = fields.get(step.decided_for)
            if step.decided_for not in declared or field is None:
                add(f"decided_for {step.decided_for!r}: not a field of the bundle / decided_for {step.decided_for!r} "
                    "不是本事项的字段", (*loc, "decided_for"), step.id)
            elif field.type is not FieldType.REGION_CODE:
                add(f"decided_for {step.decided_for!r}: a {field.type.value} field, not a region_code / "
                    f"decided_for {step.decided_for!r} 应为区划代码（region_code）字段，而非 {field.type.value}",
                    (*loc, "decided_for"), step.id)
        if not len(directory):
            continue
        items = tuple(step.item_choice.map.values()) if step.item_choice is not None else (step.item,)
        for code in dict.fromkeys(items):
            item = catalog.items.get(code)
            if item is None:
                continue  # reported by the step checks
            department = step.department or item.department
            if department not in catalog.departments:
                continue  # an unknown department: reported by the step checks
            level = catalog.decided_at(code)
            missing = sorted({p.target for region in directory.regions
                              if not (p := directory.place(department, level, region)).exact})
            if missing:
                where = ", ".join(_named(r) for r in missing)
                name = catalog.departments[department].name
                add(f"item {code} is decided at {level.value} level, but offices.yaml has no {name.en} office "
                    f"({department}) at {where}: a step there would go to an office above / 事项 {code} 由 "
                    f"{level.value} 级办理，但办理机构名录（offices.yaml）在 {where} 没有{name.zh}（{department}），"
                    "该地的办件将被转至上级", (*loc, "item"), step.id)
