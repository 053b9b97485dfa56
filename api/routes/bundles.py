"""Public bundle catalogue: what can be applied for, the one form each bundle needs, and its versions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import (
    BUNDLE_PATTERN,
    BundleFormOut,
    BundleSummaryOut,
    FormFieldOut,
    FormItemChoiceOut,
    FormItemOptionOut,
    FormMaterialOut,
    FormStepOut,
    MaterialAlternativeOut,
)
from engine.errors import NotFound
from engine.records.labels import SUPPLY_MODE_LABELS
from engine.records.queries import material_options
from engine.runtime import Runtime, published_versions
from engine.spec.models import BundleSpec, FieldUse, Material, StepSpec
from engine.spec.versions import diff_specs

router = APIRouter(tags=["bundles"])

def _condition(condition: Any) -> dict[str, Any] | None:
    return None if condition is None else dict(condition.model_dump(mode="json", by_alias=True, exclude_unset=True))


def _summary(spec: BundleSpec) -> dict[str, Any]:
    return {
        "id": spec.id, "name": spec.name, "version": spec.version, "theme_code": spec.theme_code,
        "applicant_kind": spec.applicant_kind,
        "time_limit": {"amount": spec.time_limit.amount, "unit": spec.time_limit.unit.value},
        "step_count": len(spec.steps),
    }


def _field(runtime: Runtime, use: FieldUse) -> FormFieldOut:
    field = runtime.registry.fields[use.field]
    return FormFieldOut(
        id=field.id, label=field.label, type=field.type.value, required=use.required, when=_condition(use.when),
        options=[{"value": o.value, "label": o.label} for o in field.options],
        max_length=field.max_length, max_items=field.item_limit if field.item_fields else None,
        sensitive=field.sensitive, prefillable=bool(field.prefill),
        item_fields=[_field(runtime, FieldUse(field=name)) for name in field.item_fields],
    )


def _material(material: Material) -> FormMaterialOut:
    return FormMaterialOut(
        name=material.name, code=material.code, supply=int(material.supply), supply_name=SUPPLY_MODE_LABELS[material.supply],
        licence=material.licence, required=material.required, when=_condition(material.when), note=material.note,
        alternatives=[MaterialAlternativeOut(**asdict(option)) for option in material_options(material)])


def _department_name(runtime: Runtime, code: str) -> str:
    departments = runtime.registry.catalog.departments
    return departments[code].name.zh if code in departments else code


def _item_choice(runtime: Runtime, step: StepSpec) -> FormItemChoiceOut | None:
    """The item (and department) each answer of the choosing field gives the step."""
    if step.item_choice is None:
        return None
    items = runtime.registry.catalog.items
    options = []
    for answer, code in step.item_choice.map.items():
        department = step.department or items[code].department
        options.append(FormItemOptionOut(answer=answer, item=code, item_name=items[code].name, department=department,
                                         department_name=_department_name(runtime, department)))
    return FormItemChoiceOut(by=step.item_choice.by, options=options)


def _form(runtime: Runtime, spec: BundleSpec) -> BundleFormOut:
    catalog = runtime.registry.catalog
    steps = []
    for step in spec.steps:
        code = step.chosen_item(None)  # no answers here: the first item, the others under item_choice
        item = catalog.items[code]
        department = step.department or item.department
        steps.append(FormStepOut(
            id=step.id, item=code, item_name=item.name, department=department,
            department_name=_department_name(runtime, department), item_choice=_item_choice(runtime, step),
            kind=step.kind.value,
            time_limit={"amount": step.time_limit.amount, "unit": step.time_limit.unit.value},
            depends_on=list(step.depends_on), depends_on_any=list(step.depends_on_any), when=_condition(step.when),
            for_each=step.for_each, fields=list(step.fields), result=step.outputs.result or item.result,
            materials=[_material(m) for m in step.materials],
        ))
    return BundleFormOut(**_summary(spec), description=spec.description,
                         fields=[_field(runtime, use) for use in spec.fields],
                         materials=[_material(m) for m in spec.materials], steps=steps)


@router.get("/bundles", response_model=list[BundleSummaryOut], summary="Bundles that can be applied for")
def list_bundles(runtime: RuntimeDep) -> list[BundleSummaryOut]:
    """Every current bundle: names, version, applicant kind, time limit, number of steps. Public."""
    return [BundleSummaryOut.model_validate(_summary(spec)) for spec in sorted(runtime.registry, key=lambda s: s.id)]


@router.get("/bundles/{bundle_id}", response_model=BundleFormOut, responses=problems(404),
            summary="A bundle's form and steps")
def get_bundle(runtime: RuntimeDep, bundle_id: Annotated[str, Path(pattern=BUNDLE_PATTERN)]) -> BundleFormOut:
    """The one form (fields with labels, types, options, required, conditions), the materials of the
    whole bundle and of every step with how each is supplied (supply modes 1-5) and their
    alternatives (任选其一), and the steps with departments and time limits; a step whose item an
    answer chooses lists the item and department of every answer (item_choice). Public."""
    return _form(runtime, runtime.current_spec(bundle_id))


class StepChangeOut(BaseModel):
    id: str = Field(description="The step's id")
    keys: list[str] = Field(description="The step's keys whose values changed")


class VersionChangesOut(BaseModel):
    from_version: int
    to_version: int
    steps_added: list[str]
    steps_removed: list[str]
    steps_changed: list[StepChangeOut]
    bundle_keys_changed: list[str] = Field(description="Bundle-level keys (besides version and steps) that changed")


class BundleVersionOut(BaseModel):
    version: int
    spec_hash: str = Field(description="SHA-256 of the version's canonical content (defaults left out)")
    published_at: datetime
    current: bool = Field(description="Whether this is the version the running bundle files carry")
    changes: VersionChangesOut | None = Field(description="What changed since the previous published version")


class BundleVersionsOut(BaseModel):
    bundle_id: str
    current_version: int | None = Field(description="The version of the running bundle file (none: no longer served)")
    versions: list[BundleVersionOut]


@router.get("/bundles/{bundle_id}/versions", response_model=BundleVersionsOut, responses=problems(404),
            summary="A bundle's published versions and what changed between them")
def bundle_versions(
    session: SessionDep, runtime: RuntimeDep, bundle_id: Annotated[str, Path(pattern=BUNDLE_PATTERN)]
) -> BundleVersionsOut:
    """Every published version, oldest first, with its hash, publication time and the steps
    added, removed and changed since the previous one. Public."""
    history = published_versions(session, bundle_id)
    current = runtime.registry.bundles.get(bundle_id)
    if not history and current is None:
        raise NotFound(f"unknown bundle {bundle_id!r}", field="bundle_id")
    out: list[BundleVersionOut] = []
    for before, row in zip([None, *history[:-1]], history, strict=True):
        changes = None if before is None else VersionChangesOut.model_validate(
            {k: v for k, v in diff_specs(before.spec, row.spec).as_dict().items() if k != "bundle_id"})
        out.append(BundleVersionOut(version=row.version, spec_hash=row.spec_hash, published_at=row.published_at,
                                    current=current is not None and current.version == row.version
                                    and current.spec_hash == row.spec_hash,
                                    changes=changes))
    return BundleVersionsOut(bundle_id=bundle_id, current_version=current.version if current else None, versions=out)
