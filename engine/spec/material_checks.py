"""Loader checks of materials beyond a step's own list: bundle-level materials and alternatives
(``any_of``). Bilingual, through the loader's ``add(problem, loc, step)`` like every spec problem.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from engine.spec.models import BundleSpec, Catalog, Material

Add = Callable[..., None]


def check_materials(
    bundle: BundleSpec, *, catalog: Catalog, declared: Collection[str], add: Add, check_condition: Add
) -> None:
    """Bundle materials and every alternative name known licences and fields; a bundle material
    is not listed on a step again (it would be asked for twice)."""
    for j, material in enumerate(bundle.materials):
        _check_one(material, ("materials", j), None, catalog=catalog, declared=declared, add=add,
                   check_condition=check_condition)
        for k, option in enumerate(material.any_of):
            _check_one(option, ("materials", j, "any_of", k), None, catalog=catalog, declared=declared, add=add,
                       check_condition=check_condition)
    shared = {m.name for m in bundle.materials}
    for i, step in enumerate(bundle.steps):
        for j, material in enumerate(step.materials):
            loc = ("steps", i, "materials", j)
            if material.name in shared:
                add(f"material {material.name!r} is a bundle material: list it once, under the bundle's materials / "
                    f"材料 {material.name!r} 已列为整件事材料，无需在环节中重复列出", loc, step.id)
            for k, option in enumerate(material.any_of):
                _check_one(option, (*loc, "any_of", k), step.id, catalog=catalog, declared=declared, add=add,
                           check_condition=check_condition)


def _check_one(
    material: Material, loc: tuple[str | int, ...], step: str | None, *, catalog: Catalog,
    declared: Collection[str], add: Add, check_condition: Add,
) -> None:
    if material.licence is not None and material.licence not in catalog.licences:
        add(f"material {material.name!r}: unknown licence type {material.licence!r} / 未知证照类型 {material.licence!r}",
            loc, step)
    if material.holder_field is not None and material.holder_field not in declared:
        add(f"material {material.name!r}: holder_field {material.holder_field!r} is not a field of the bundle / "
            f"holder_field {material.holder_field!r} 不是本事项的字段", (*loc, "holder_field"), step)
    check_condition(material.when, (*loc, "when"), step)
