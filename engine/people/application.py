"""Validate an application's answers against a bundle and the field dictionary.

Every problem names its field (``heirs[1].id_number`` inside lists) and says what is wrong in
Chinese and English; all problems are collected, so the applicant fixes them in one pass
(一次性告知). A list longer than its field's ``max_items`` is one problem on the list, found
before any of its entries is looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from engine.errors import FieldProblem, InvalidApplication
from engine.spec.models import BundleSpec, FieldSpec, FieldType
from engine.people.validators import VALIDATORS, InvalidValue, validate_integer, validate_text


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def clean_value(
    spec: FieldSpec, value: Any, *, path: str, fields: Mapping[str, FieldSpec], problems: list[FieldProblem]
) -> Any:
    """One field's normalised JSON value, or None after recording a problem."""
    try:
        match spec.type:
            case FieldType.TEXT:
                return validate_text(value, max_length=spec.max_length)
            case FieldType.CHOICE:
                allowed = [o.value for o in spec.options]
                if value not in allowed:
                    raise InvalidValue(
                        "choice.unknown",
                        f"取值应为 {'、'.join(allowed)} 之一",
                        f"must be one of {', '.join(allowed)}",
                    )
                return value
            case FieldType.LIST:
                return _clean_list(spec, value, path=path, fields=fields, problems=problems)
            case FieldType.INTEGER if spec.minimum is not None:
                number = validate_integer(value)
                if number < spec.minimum:
                    raise InvalidValue("integer.too_small", f"不能小于 {spec.minimum}", f"must be at least {spec.minimum}")
                return number
            case _:
                return _jsonable(VALIDATORS[spec.type.value](value))
    except InvalidValue as exc:
        problems.append(FieldProblem(path, exc.code, exc.message_zh, exc.message_en))
        return None


def _clean_list(
    spec: FieldSpec, value: Any, *, path: str, fields: Mapping[str, FieldSpec], problems: list[FieldProblem]
) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        raise InvalidValue("list.type", "应为条目列表", "must be a list of entries")
    if len(value) > spec.item_limit:
        raise InvalidValue("list.too_long", f"最多 {spec.item_limit} 项，实际 {len(value)} 项",
                           f"at most {spec.item_limit} entries, not {len(value)}")
    if not all(isinstance(v, dict) for v in value):
        raise InvalidValue("list.type", "应为条目列表", "must be a list of entries")
    cleaned: list[dict[str, Any]] = []
    for index, entry in enumerate(value):
        out: dict[str, Any] = {}
        for key in entry:
            if key not in spec.item_fields:
                problems.append(
                    FieldProblem(f"{path}[{index}].{key}", "field.unknown", "不是该列表的字段", "is not a field of this list")
                )
        for name in spec.item_fields:
            where = f"{path}[{index}].{name}"
            if entry.get(name) in (None, ""):
                label = fields[name].label
                problems.append(FieldProblem(where, "field.required", f"请填写第 {index + 1} 项的{label.zh}",
                                             f"{label.en} of entry {index + 1} is required"))
                continue
            out[name] = clean_value(fields[name], entry[name], path=where, fields=fields, problems=problems)
        cleaned.append(out)
    return cleaned


def validate_answers(bundle: BundleSpec, fields: Mapping[str, FieldSpec], answers: Mapping[str, Any]) -> dict[str, Any]:
    """Return the cleaned answers of the fields that apply, or raise :class:`InvalidApplication`."""
    problems: list[FieldProblem] = []
    uses = {use.field: use for use in bundle.fields}
    for name in answers:
        if name not in uses:
            problems.append(FieldProblem(name, "field.unknown", "不是该事项的字段", f"is not a field of bundle {bundle.id}"))
    cleaned: dict[str, Any] = {}
    for name, use in uses.items():
        raw = answers.get(name)
        if raw in (None, "") or raw == []:
            continue
        value = clean_value(fields[name], raw, path=name, fields=fields, problems=problems)
        if value is not None:
            cleaned[name] = value
    # Conditions read cleaned values, so a question only applies once its trigger is valid.
    result: dict[str, Any] = {}
    for name, use in uses.items():
        if use.when is not None and not use.when.evaluate(cleaned):
            continue
        if name in cleaned:
            result[name] = cleaned[name]
        elif use.required and not any(p.field == name or p.field.startswith(f"{name}[") for p in problems):
            label = fields[name].label
            problems.append(FieldProblem(name, "field.required", f"请填写{label.zh}", f"{label.en} is required"))
    if problems:
        raise InvalidApplication(problems)
    return result
