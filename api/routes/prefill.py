"""Prefill: the one form as the applicant will see it, before anything is submitted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import (
    ALTERNATIVES_DESCRIPTION,
    BUNDLE_PATTERN,
    ApplicantIn,
    JsonObject,
    MaterialAlternativeOut,
    SupplyCode,
    SupplyLabel,
)
from engine.machine.intake import Applicant, preview_application
from engine.people.prefill import MaterialStatus
from engine.records.labels import SUPPLY_MODE_LABELS
from engine.records.queries import material_options, spec_material
from engine.spec.models import BundleSpec

router = APIRouter(tags=["intake"])


class PrefillIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "bundle_id": "marriage",
        "applicant": {"id": "430102199405170112", "kind": "person"},
        "answers": {"groom_id_number": "430102199405170112", "bride_id_number": "430104199608030227"},
    }]})

    bundle_id: Annotated[str, StringConstraints(pattern=BUNDLE_PATTERN)]
    applicant: ApplicantIn
    answers: JsonObject = Field(default_factory=dict, description="What is typed so far (e.g. the spouse's ID number)")


class PrefilledFieldOut(BaseModel):
    """A field of the one form filled before anything is typed, with where the value came from."""

    field: str
    value: Any
    source: Literal["licence", "earlier_case"] | str
    detail: str
    correctable: bool


class PrefillMaterialOut(BaseModel):
    """A material of the application as prefill classifies it: waived (免提交) or to supply."""

    step: str = Field(description="The step that needs it; empty for a material of the whole bundle (listed once, "
                                  "whichever steps apply)")
    name: str
    code: str | None
    supply: SupplyCode
    supply_label: SupplyLabel
    required: bool
    reason: str = Field(description="Why it is waived (the alternative that satisfied it, a linked e-licence…) or how "
                                    "to supply it")
    alternatives: list[MaterialAlternativeOut] = Field(description=ALTERNATIVES_DESCRIPTION)


class EligibilityOut(BaseModel):
    """One eligibility rule (前置校验) on what is known so far."""

    rule: str
    step: str | None = Field(description="The step a step rule belongs to (None: a rule of the whole bundle)")
    outcome: Literal["met", "failed", "unknown"] = Field(
        description="unknown: a field it reads is not answered yet, or it concerns another person's records, "
                    "which a self-service applicant is not told about (decided at submission or by the department)")
    on_fail: Literal["refuse", "warn", "skip"]
    reason_zh: str
    reason_en: str
    fields: list[str]


class PrefillOut(BaseModel):
    bundle_id: str
    applicant_id: str
    fields: list[PrefilledFieldOut]
    waived: list[PrefillMaterialOut]
    to_supply: list[PrefillMaterialOut]
    eligible: bool = Field(description="False when a refusing rule already fails: submitting would be refused (422)")
    eligibility: list[EligibilityOut] = Field(description="Every rule the application is checked against, in order")


def _material(spec: BundleSpec, status: MaterialStatus) -> PrefillMaterialOut:
    options = material_options(spec_material(spec, step=status.step, name=status.name))
    return PrefillMaterialOut(step=status.step, name=status.name, code=status.code, supply=int(status.supply),
                              supply_label=SUPPLY_MODE_LABELS[status.supply], required=status.required,
                              reason=status.reason, alternatives=[MaterialAlternativeOut(**asdict(o)) for o in options])


@router.post("/prefill", response_model=PrefillOut, responses=problems(403, 404), summary="Prefill the one form and list waived materials")
def prefill(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, body: PrefillIn) -> PrefillOut:
    """Fields filled from valid e-licences (and the applicant's earlier cases), each with its source;
    materials the government already holds (免提交) and those still to supply — the whole bundle's
    (step '') once, then each step's, each with its supply mode and alternatives; and the bundle's
    eligibility rules (前置校验) on what is known so far, so a refusal shows before the form is filled
    in. Applicants prefill for themselves only and see only their own data (rules on another
    person's records stay unknown); clerks see the people named in the form too (the engine decides
    who may, before reading anyone's data)."""
    preview = preview_application(session, runtime, bundle_id=body.bundle_id,
                                  applicant=Applicant(body.applicant.id, body.applicant.kind, body.applicant.name),
                                  answers=body.answers, actor=actor)
    result, eligibility = preview.prefill, preview.eligibility
    fields = runtime.registry.fields
    spec = runtime.current_spec(body.bundle_id)
    return PrefillOut(
        bundle_id=body.bundle_id, applicant_id=body.applicant.id,
        fields=[PrefilledFieldOut(field=name, value=found.value, source=found.source, detail=found.detail,
                                  correctable=fields[name].correctable) for name, found in sorted(result.values.items())],
        waived=[_material(spec, m) for m in result.waived],
        to_supply=[_material(spec, m) for m in result.to_supply],
        eligible=not eligibility.refusals,
        eligibility=[EligibilityOut(**v.as_dict()) for v in eligibility.verdicts],
    )
