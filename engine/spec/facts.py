"""The catalogue of computed facts a condition may read (``{fact: age, of: groom_id_number, ge: 22}``).

A fact is a value the answers do not hold but imply, computed at the acceptance date: an age
or sex read from a GB 11643 ID number, whole days or months since a date, whether an ID number
or region code lies in a region, whether a person holds a valid e-licence, whether two fields
differ, how many cases of the same bundle are still open for the same people.

This module only *declares* the facts (what each reads, takes and yields), so the loader can
check a bundle and the docs can list them; it computes nothing. The engine resolves the facts a
bundle uses before evaluating its conditions (:mod:`engine.machine.eligibility`), the ones that
need the database with the caller's session, and puts each value in the condition scope under
:attr:`engine.spec.conditions.Fact.key`. Field types are named by their string value
(``"id_number"`` …) because the spec models import this module's users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

APPLICANT = "applicant"
"""The reserved operand naming the case's applicant (their ID number or credit code), not a field."""

ValueType = Literal["integer", "text", "boolean"]


@dataclass(frozen=True)
class FactDef:
    """One computed fact: what it reads (``of``), the parameters it takes and the value it yields."""

    name: str
    zh: str
    en: str
    value: ValueType
    of_types: frozenset[str]
    """Field types an ``of`` operand may have (the applicant counts as an id_number / credit_code)."""
    min_of: int = 1
    max_of: int | None = 1
    params: frozenset[Literal["licence", "region"]] = frozenset()
    values: tuple[str, ...] = ()
    """For a text fact, the only values it yields (an operand outside them is a typo)."""
    database: bool = False
    """Resolved from the database (licence store, cases), not from the answers alone."""
    applicant_default: bool = False
    """``of`` may be omitted: the fact is about the applicant."""


_IDS = frozenset({"id_number", "credit_code"})

FACTS: Mapping[str, FactDef] = MappingProxyType({
    f.name: f for f in (
        FactDef("age", "周岁年龄", "age in full years", "integer", frozenset({"id_number"})),
        FactDef("sex", "性别", "sex", "text", frozenset({"id_number"}), values=("male", "female")),
        FactDef("days_since", "距受理日天数", "days before the acceptance date", "integer", frozenset({"date"})),
        FactDef("months_since", "距受理日整月数", "whole months before the acceptance date", "integer",
                frozenset({"date"})),
        FactDef("in_region", "属于地区", "lies in the region", "boolean",
                frozenset({"id_number", "credit_code", "region_code"}),
                params=frozenset({"region"})),
        FactDef("holds_licence", "持有有效电子证照", "holds a valid e-licence", "boolean", _IDS,
                params=frozenset({"licence"}), database=True),
        FactDef("distinct", "互不相同", "are all different", "boolean",
                frozenset({"id_number", "credit_code", "text", "phone", "date", "region_code", "integer"}),
                min_of=2, max_of=None),
        FactDef("open_cases", "同一事项在办件数", "open cases of this bundle for the same people", "integer", _IDS,
                min_of=0, max_of=None, database=True, applicant_default=True),
    )
})
"""Every fact a condition may name, by name."""


def fact_def(name: str) -> FactDef | None:
    """The declaration of fact ``name``, or None when there is no such fact."""
    return FACTS.get(name)
