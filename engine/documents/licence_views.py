"""The e-licence behind a waived material, as a reader of the case sees it (电子证照 view).

A material waived because a valid e-licence is linked (免提交) is shown to its readers as the
licence itself: type, number, holder, issuer, validity and its attributes under the labels of the
fields the prefill fills from them (ID numbers masked, as everywhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import Case
from engine.documents.files import MaterialFiles
from engine.machine.access import sole_applicant
from engine.machine.states import Actor
from engine.people.licences import valid_licences
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, FieldType

__all__ = ["ATTRIBUTE_LABELS", "LicenceView", "licence_views"]

ATTRIBUTE_LABELS = {"name": "姓名", "sex": "性别", "id_number": "证件号码", "birth_date": "出生日期", "address": "住址",
                    "spouse_name": "配偶姓名", "spouse_id_number": "配偶证件号码", "household_type": "户别"}
"""Licence attributes in words; others take the label of a field the prefill fills from them."""


@dataclass(frozen=True)
class LicenceView:
    """A waived material's e-licence as the prefill reads it: type, number, holder, validity and
    its attributes under the labels of the fields they fill."""

    type_name: str
    number: str
    holder: str
    issuer: str
    valid_from: date
    valid_to: date | None
    attributes: tuple[tuple[str, Any, bool], ...]
    """(label, value, masked) in the licence's order."""


def licence_views(session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec,
                  materials: Sequence[MaterialFiles], viewer: Actor) -> dict[str, LicenceView]:
    """The e-licences behind the materials the engine waived *for this viewer* because a valid
    licence is linked (an applicant's own only: another person's licence is never waived for them),
    keyed by material name."""
    registry = runtime.registry
    wanted: dict[str, tuple[str, str]] = {}
    for material in materials:
        declared = spec.material(material.name)
        if not material.waived or declared is None or not material.reason.startswith("已关联电子证照"):
            continue
        for option in declared.options:
            if option.licence:
                holder = case.answers.get(option.holder_field) if option.holder_field else case.applicant_id
                # A self-service applicant reads only their own licence (another person's is never
                # waived for them anyway); staff who may read the case read the others' too.
                if isinstance(holder, str) and (sole_applicant(viewer) is None or holder == case.applicant_id):
                    wanted[material.name] = (holder, option.licence)
                    break
    if not wanted:
        return {}
    found = valid_licences(session, holders={h for h, _ in wanted.values()}, types={t for _, t in wanted.values()},
                           today=runtime.today())
    labels: dict[tuple[str, str], tuple[str, bool]] = {}
    for spec_field in registry.fields.values():
        for source in spec_field.prefill:
            masked = spec_field.type in (FieldType.ID_NUMBER, FieldType.CREDIT_CODE)  # shown as the lists show IDs
            labels.setdefault((source.licence, source.attribute), (spec_field.label.zh, masked))
    out = {}
    for name, (holder, licence_type) in wanted.items():
        licence = found.get((holder, licence_type))
        if licence is None:
            continue
        kind = registry.catalog.licences.get(licence_type)
        attributes = []
        for key, value in licence.attributes.items():
            label, masked = labels.get((licence_type, key), (key, False))
            label, masked = ATTRIBUTE_LABELS.get(key, label), masked or "id_number" in key
            attributes.append((label, value, masked))
        out[name] = LicenceView(type_name=kind.name.zh if kind else licence_type, number=licence.number, holder=holder,
                                issuer=licence.issuer, valid_from=licence.valid_from, valid_to=licence.valid_to,
                                attributes=tuple(attributes))
    return out
