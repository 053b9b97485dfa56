"""Declarative conditions on an applicant's answers.

A step's ``when`` is data, never code: a small union of comparison, ``all``, ``any`` and
``not`` nodes, evaluated against the application's field values. Nothing is ever ``eval``-ed.

YAML forms::

    when: {field: both_hunan_household, eq: true}
    when: {field: death_kind, in: [natural, hospital]}
    when: {all: [{field: a, gt: 3}, {not: {field: b, eq: x}}]}
    requires: {fact: age, of: groom_id_number, ge: 22}     # a computed fact (engine/spec/facts.py)

Every node answers the same four questions, so nothing else walks the tree: ``evaluate`` (on
complete answers), ``settles`` (three-valued, on answers still being filled in), ``fields`` (what
it reads) and ``describe`` (plain words, with the caller phrasing each comparison and, optionally,
naming the fields a computed fact reads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.spec.facts import APPLICANT, fact_def

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

    @property
    def bound(self) -> Any:
        """The operator's operand (the literal compared with)."""
        return self.in_ if self.operator == "in" else getattr(self, self.operator)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        op = self.operator
        present = answers.get(self.field) is not None
        if op == "exists":
            return present == bool(self.exists)
        if not present:
            return False  # an unanswered field satisfies no comparison
        return _compare(op, answers[self.field], self.bound)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """Like :meth:`evaluate`, but None when the field is not answered yet (except ``exists``)."""
        if self.operator != "exists" and answers.get(self.field) is None:
            return None
        return self.evaluate(answers)

    def fields(self) -> Iterator[str]:
        yield self.field

    def facts(self) -> Iterator[Fact]:
        yield from ()

    def describe(self, phrase: Callable[[Comparison], str], label: Callable[[str], str] | None = None) -> str:
        return phrase(self)


def _compare(op: str, value: Any, bound: Any) -> bool:
    """``value <op> bound`` for every operator but ``exists`` (shared by comparisons and facts)."""
    match op:
        case "eq":
            return bool(value == bound)
        case "ne":
            return bool(value != bound)
        case "in":
            return value in (bound or ())
        case "not_in":
            return value not in (bound or ())
        case "gt" | "ge" | "lt" | "le":
            return _ordered(op, value, bound)
    raise AssertionError(op)  # pragma: no cover - guarded by the validators


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


FACTS_PREFIX = "facts."
"""Where a resolved fact's value sits in a condition scope (see :attr:`Fact.key`)."""

_FACT_OPERATORS: tuple[str, ...] = tuple(op for op in _OPERATORS if op != "exists")


def _as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class Fact(BaseModel):
    """Compare a computed fact with a literal: ``{fact: age, of: groom_id_number, ge: 22}``.

    ``of`` names the field(s) the fact is computed from (or ``applicant``); ``licence`` and
    ``region`` are the parameters some facts take (:data:`engine.spec.facts.FACTS` lists them).
    The node computes nothing: the engine resolves every fact of a bundle before evaluating
    (some need the database) and puts the value in the scope under :attr:`key`. A fact that
    was not resolved (no value to compute it from, or not looked up) is unknown: ``settles``
    answers None and ``evaluate`` False, like an unanswered field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    fact: str = Field(min_length=1)
    of: tuple[str, ...] = ()
    licence: tuple[str, ...] = ()
    region: str | None = None
    eq: Any = None
    ne: Any = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Any, ...] | None = None
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        # ``of: groom_id_number`` and ``licence: L2000025`` are the one-element forms.
        if isinstance(data, dict):
            data = {k: _as_tuple(v) if k in ("of", "licence") else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> Fact:
        given = self._set_operators()
        if len(given) != 1:
            raise ValueError(
                f"fact {self.fact!r} needs exactly one operator of {', '.join(_FACT_OPERATORS)}; got {len(given)}"
            )
        return self

    def _set_operators(self) -> set[str]:
        return {("in" if name == "in_" else name) for name in _FACT_FIELDS
                if name in self.model_fields_set and getattr(self, name) is not None}

    @property
    def operator(self) -> str:
        return next(iter(self._set_operators()))

    @property
    def bound(self) -> Any:
        return self.in_ if self.operator == "in" else getattr(self, self.operator)

    @property
    def key(self) -> str:
        """The scope key of this fact's value: ``facts.age(groom_id_number)``,
        ``facts.holds_licence(bride_id_number)[licence=L2000025]``; equal facts share a key."""
        params = "".join(f"[{name}={'|'.join(value) if isinstance(value, tuple) else value}]"
                         for name, value in (("licence", self.licence), ("region", self.region)) if value)
        return f"{FACTS_PREFIX}{self.fact}({','.join(self.of)}){params}"

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        value = answers.get(self.key)
        return value is not None and _compare(self.operator, value, self.bound)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """None while the fact is unresolved (its fields unanswered, or not looked up)."""
        return None if answers.get(self.key) is None else self.evaluate(answers)

    def fields(self) -> Iterator[str]:
        yield from (name for name in self.of if name != APPLICANT)

    def facts(self) -> Iterator[Fact]:
        yield self

    def describe(self, phrase: Callable[[Comparison], str], label: Callable[[str], str] | None = None) -> str:
        known = fact_def(self.fact)
        words = {"eq": "为", "ne": "不为", "in": "为下列之一：", "not_in": "不为下列之一：", "gt": "大于",
                 "ge": "不小于", "lt": "小于", "le": "不大于"}
        args = "、".join("申请人" if name == APPLICANT else f"「{label(name) if label else name}」"
                        for name in self.of) or "申请人"
        extra = "".join(f"（{'/'.join(v) if isinstance(v, tuple) else v}）" for v in (self.licence, self.region) if v)
        bound = ("是" if self.bound else "否") if isinstance(self.bound, bool) else self.bound
        return f"{args}的{known.zh if known else self.fact}{extra}{words[self.operator]}“{bound}”"


_FACT_FIELDS: tuple[str, ...] = ("eq", "ne", "in_", "not_in", "gt", "ge", "lt", "le")


class _Combination(BaseModel):
    """What ``all`` and ``any`` share: the fields and facts they read are their parts'."""

    @property
    def parts(self) -> tuple[Condition, ...]:
        raise NotImplementedError

    def fields(self) -> Iterator[str]:
        for sub in self.parts:
            yield from sub.fields()

    def facts(self) -> Iterator[Fact]:
        for sub in self.parts:
            yield from sub.facts()


class AllOf(_Combination):
    """True when every sub-condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    all_: tuple[Condition, ...] = Field(alias="all", min_length=1)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return all(c.evaluate(answers) for c in self.all_)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """False as soon as one part is false; None while a part is unknown."""
        parts = [c.settles(answers) for c in self.all_]
        return False if False in parts else (None if None in parts else True)

    @property
    def parts(self) -> tuple[Condition, ...]:
        return self.all_

    def describe(self, phrase: Callable[[Comparison], str], label: Callable[[str], str] | None = None) -> str:
        return "且".join(c.describe(phrase, label) for c in self.all_)


class AnyOf(_Combination):
    """True when at least one sub-condition holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    any_: tuple[Condition, ...] = Field(alias="any", min_length=1)

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        return any(c.evaluate(answers) for c in self.any_)

    def settles(self, answers: Mapping[str, Any]) -> bool | None:
        """True as soon as one part is true; None while a part is unknown."""
        parts = [c.settles(answers) for c in self.any_]
        return True if True in parts else (None if None in parts else False)

    @property
    def parts(self) -> tuple[Condition, ...]:
        return self.any_

    def describe(self, phrase: Callable[[Comparison], str], label: Callable[[str], str] | None = None) -> str:
        return "或".join(c.describe(phrase, label) for c in self.any_)


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

    def facts(self) -> Iterator[Fact]:
        return self.not_.facts()

    def describe(self, phrase: Callable[[Comparison], str], label: Callable[[str], str] | None = None) -> str:
        return f"并非（{self.not_.describe(phrase, label)}）"


Condition = Union[AllOf, AnyOf, Not, Fact, Comparison]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def fields_of(condition: Condition) -> Iterator[str]:
    """Every field a condition reads, so the loader can check they are declared."""
    return condition.fields()


def facts_of(condition: Condition | None) -> Iterator[Fact]:
    """Every computed fact a condition reads, so the engine can resolve them before evaluating."""
    return condition.facts() if condition is not None else iter(())
