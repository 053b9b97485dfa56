"""Declarative conditions on an applicant's answers.

A step's ``when`` is data, never code: a small union of comparison, ``all``, ``any`` and
``not`` nodes, evaluated against the application's field values. Nothing is ever ``eval``-ed.

YAML forms::

    when: {field: both_hunan_household, eq: true}
    when: {field: death_kind, in: [natural, hospital]}
    when: {all: [{field: a, gt: 3}, {not: {field: b, eq: x}}]}

Every node answers the same four questions, so nothing else walks the tree: ``evaluate`` (on
complete answers), ``settles`` (three-valued, on answers still being filled in), ``fields`` (what
it reads) and ``describe`` (plain words, with the caller phrasing each comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operator = Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "exists"]
_OPERATORS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "exists")


class Comparison(BaseModel):
    """Compare one field of the application with a literal."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    field: str
    eq: Any = None
    ne: Any = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Any, ...] | None = None
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> Comparison:
        given = [op for op in _OPERATORS if op in self._set_operators()]
        if len(given) != 1:
            raise ValueError(
                f"a comparison on field {self.field!r} needs exactly one operator of "
                f"{', '.join(_OPERATORS)}; got {len(given)} (to test for no value, write exists: false)"
            )
        return self

    def _set_operators(self) -> set[str]:
        # An operator given as null counts as absent: stored snapshots write every operator out,
        # and "equals null" is spelled ``exists: false``.
        names = set()
        for name in self.model_fields_set:
            if name != "field" and getattr(self, name) is not None:
                names.add("in" if name == "in_" else name)
        return names

    @property
    def operator(self) -> str:
        return next(iter(self._set_operators()))

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        op = self.operator
        present = answers.get(self.field) is not None
        if op == "exists":
            return present == bool(self.exists)
        if not present:
            return False  # an unanswered field satisfies no comparison
        value = answers[self.field]
        match op:
            case "eq":
                return bool(value == self.eq)
            case "ne":
                return bool(value != self.ne)
            case "in":
                return value in (self.in_ or ())
            case "not_in":
                return value not in (self.not_in or ())
            case "gt" | "ge" | "lt" | "le":
                return _ordered(op, value, getattr(self, op))
        raise AssertionError(op)  # pragma: no cover - guarded by the validator

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """Like :meth:`evaluate`, but None when the field is not answered yet (except ``exists``)."""
        if self.operator != "exists" and answers.get(self.field) is None:
            return None
        return self.evaluate(answers)

    def fields(self) -> Iterator[str]:
        yield self.field

    def describe(self, phrase: Callable[[Comparison], str]) -> str:
        return phrase(self)


def _ordered(op: str, value: Any, bound: Any) -> bool:
    try:
        match op:
            case "gt":
                return bool(value > bound)
            case "ge":
                return bool(value >= bound)
            case "lt":
                return bool(value < bound)
            case _:
                return bool(value <= bound)
    except TypeError:
        return False  # incomparable types never match


class AllOf(BaseModel):
    """True when every sub-condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    all_: tuple[Condition, ...] = Field(alias="all", min_length=1)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return all(c.evaluate(answers) for c in self.all_)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """False as soon as one part is false; None while a part is unknown."""
        parts = [c.settles(answers) for c in self.all_]
        return False if False in parts else (None if None in parts else True)

    def fields(self) -> Iterator[str]:
        for sub in self.all_:
            yield from sub.fields()

    def describe(self, phrase: Callable[[Comparison], str]) -> str:
        return "且".join(c.describe(phrase) for c in self.all_)


class AnyOf(BaseModel):
    """True when at least one sub-condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    any_: tuple[Condition, ...] = Field(alias="any", min_length=1)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return any(c.evaluate(answers) for c in self.any_)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """True as soon as one part is true; None while a part is unknown."""
        parts = [c.settles(answers) for c in self.any_]
        return True if True in parts else (None if None in parts else False)

    def fields(self) -> Iterator[str]:
        for sub in self.any_:
            yield from sub.fields()

    def describe(self, phrase: Callable[[Comparison], str]) -> str:
        return "或".join(c.describe(phrase) for c in self.any_)


class Not(BaseModel):
    """True when the sub-condition does not hold."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    not_: Condition = Field(alias="not")

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return not self.not_.evaluate(answers)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        inner = self.not_.settles(answers)
        return None if inner is None else not inner

    def fields(self) -> Iterator[str]:
        return self.not_.fields()

    def describe(self, phrase: Callable[[Comparison], str]) -> str:
        return f"并非（{self.not_.describe(phrase)}）"


Condition = Union[AllOf, AnyOf, Not, Comparison]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def fields_of(condition: Condition) -> Iterator[str]:
    """Every field a condition reads, so the loader can check they are declared."""
    return condition.fields()
