"""Loader checks of materials beyond a step's own list: bundle-level materials, alternatives
(``any_of``) and the hand-in keys (``files``, ``deferrable``). Bilingual, through the loader's ``add(problem, loc, step)`` like every spec problem.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from engine.spec.models import FILE_TYPES, BundleSpec, Catalog, FileRule, Material, SupplyMode

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
    check_hand_in(bundle, add=add)


_NOT_HANDED_IN = (SupplyMode.TEMPLATE, SupplyMode.DATA_INTERFACE, SupplyMode.PERSONAL_CENTRE)


def check_hand_in(bundle: BundleSpec, *, add: Add) -> None:
    """File rules name known types only; 容缺 (``deferrable``) is for a material that is handed in;
    an alternative takes the rule of the material it stands for, so it sets neither."""
    _check_rule(bundle.files, ("files",), None, add=add)
    listed: list[tuple[Material, tuple[str | int, ...], str | None]] = [
        (m, ("materials", j), None) for j, m in enumerate(bundle.materials)]
    listed += [(m, ("steps", i, "materials", j), s.id) for i, s in enumerate(bundle.steps)
               for j, m in enumerate(s.materials)]
    for material, loc, step in listed:
        _check_rule(material.files, (*loc, "files"), step, add=add)
        if material.deferrable and material.supply in _NOT_HANDED_IN:
            add(f"material {material.name!r}: deferrable (容缺) needs a material that is handed in (supply 2 or 4), "
                f"not supply {material.supply.value} / 材料 {material.name!r} 无需提交，不能容缺", (*loc, "deferrable"),
                step)
        for k, option in enumerate(material.any_of):
            for key in ("files", "deferrable"):
                if key in option.model_fields_set:
                    add(f"material {material.name!r}: alternative {option.name!r} cannot set {key}: give it on "
                        f"{material.name!r} itself / 备选材料不能单独设置 {key}，请设在材料 {material.name!r} 上",
                        (*loc, "any_of", k, key), step)


def _check_rule(rule: FileRule | None, loc: tuple[str | int, ...], step: str | None, *, add: Add) -> None:
    for k, kind in enumerate(rule.types or () if rule is not None else ()):
        if kind not in FILE_TYPES:
            add(f"files.types: unknown file type {kind!r} (known: {', '.join(FILE_TYPES)}) / "
                f"未知文件类型 {kind!r}（可用：{'、'.join(FILE_TYPES)}）", (*loc, "types", k), step)


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
