"""Prefill: the one form as the applicant will see it, before anything is submitted."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import BUNDLE_PATTERN, ApplicantIn, JsonObject
from engine.machine.intake import Applicant, prefill_application
from engine.records.queries import authorize_intake

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


class PrefilledOut(BaseModel):
    field: str
    value: Any
    source: Literal["licence", "earlier_case"] | str
    detail: str
    correctable: bool


class MaterialOut(BaseModel):
    step: str
    name: str
    code: str | None
    supply: int
    required: bool
    reason: str


class PrefillOut(BaseModel):
    bundle_id: str
    applicant_id: str
    fields: list[PrefilledOut]
    waived: list[MaterialOut]
    to_supply: list[MaterialOut]


@router.post("/prefill", response_model=PrefillOut, responses=problems(403, 404), summary="Prefill the one form and list waived materials")
def prefill(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, body: PrefillIn) -> PrefillOut:
    """Fields filled from valid e-licences (and the applicant's earlier cases), each with its source;
    materials the government already holds (免提交) and those still to supply. Applicants prefill for
    themselves only and see only their own data; clerks within their region see the people named in
    the form too."""
    authorize_intake(actor, applicant_id=body.applicant.id, region=None)
    result = prefill_application(session, runtime, bundle_id=body.bundle_id,
                                 applicant=Applicant(body.applicant.id, body.applicant.kind, body.applicant.name),
                                 answers=body.answers, actor=actor)
    fields = runtime.registry.fields

    def material(m: Any) -> MaterialOut:
        return MaterialOut(step=m.step, name=m.name, code=m.code, supply=int(m.supply), required=m.required,
                           reason=m.reason)

    return PrefillOut(
        bundle_id=body.bundle_id, applicant_id=body.applicant.id,
        fields=[PrefilledOut(field=name, value=found.value, source=found.source, detail=found.detail,
                             correctable=fields[name].correctable) for name, found in sorted(result.values.items())],
        waived=[material(m) for m in result.waived],
        to_supply=[material(m) for m in result.to_supply],
    )
