"""Condition nodes answer evaluate / settles / fields / describe themselves (issue 9, item 3)."""

from __future__ import annotations

from pydantic import TypeAdapter

from engine.spec.conditions import Comparison, Condition, fields_of

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def test_one_condition_answers_every_question() -> None:
    condition = CONDITION.validate_python(
        {"all": [{"field": "a", "gt": 3}, {"any": [{"field": "b", "eq": "x"}, {"not": {"field": "c", "exists": True}}]}]}
    )
    assert list(condition.fields()) == list(fields_of(condition)) == ["a", "b", "c"]
    assert condition.evaluate({"a": 4, "b": "x"}) is True
    assert condition.evaluate({"a": 4, "b": "y", "c": 1}) is False
    # Three-valued while the form is being filled in: unknown until the answers settle it.
    assert condition.settles({}) is None
    assert condition.settles({"a": 2}) is False
    assert condition.settles({"a": 4, "b": "x"}) is True
    assert condition.settles({"a": 4, "c": 1}) is None

    def phrase(comparison: Comparison) -> str:
        return f"{comparison.field} {comparison.operator}"

    assert condition.describe(phrase) == "a gt且b eq或并非（c exists）"
