"""The one form of a bundle as HTML inputs: views for the template, and answers from a POST.

Inputs are named ``a.<field>`` (list cells ``a.<list>.<row>.<column>``) so they never collide
with the page's own fields (CSRF, idempotency key, applicant). Booleans are radio buttons
(``true``/``false``); a list is a table of rows, blank rows are dropped. Errors are keyed by the
engine's field paths (``heirs[1].heir_id_number``) and shown next to their input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.pages.common import plain
from engine.errors import FieldProblem
from engine.people.prefill import Prefilled, PrefillResult
from engine.records.labels import LABELS
from engine.spec.conditions import Comparison, Condition
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec, FieldSpec, FieldType

PREFIX = "a."
BLANK_ROWS = 2
MAX_ROWS = 50
MAX_TEXT = 10_000
"""Longer answers are cut here; the field's own limit then refuses them with a message."""
_CELL = re.compile(r"^a\.([a-z][a-z0-9_]*)\.(\d{1,3})\.([a-z][a-z0-9_]*)$")

INPUT_TYPES = {FieldType.DATE: "date", FieldType.PHONE: "tel"}
INPUT_MODES = {FieldType.PHONE: "tel", FieldType.INTEGER: "numeric", FieldType.AMOUNT: "decimal",
               FieldType.REGION_CODE: "numeric"}
PLACEHOLDERS = {FieldType.ID_NUMBER: "18位公民身份号码", FieldType.CREDIT_CODE: "18位统一社会信用代码",
                FieldType.PHONE: "11位手机号码", FieldType.REGION_CODE: "6位行政区划代码",
                FieldType.AMOUNT: "金额（元）", FieldType.INTEGER: "整数"}


@dataclass
class Input:
    """One input of the form, with its value, where it came from and what is wrong with it."""

    name: str
    id: str
    label: str
    label_en: str
    type: str
    required: bool
    value: Any
    input_type: str = "text"
    input_mode: str = ""
    placeholder: str = ""
    max_length: int = 200
    options: tuple[tuple[str, str, str], ...] = ()
    """(value, Chinese, English) of a choice."""
    source: str = ""
    locked: bool = False
    when: str = ""
    when_json: str = ""
    errors: list[FieldProblem] = field(default_factory=list)
    columns: tuple[Input, ...] = ()
    rows: list[list[Input]] = field(default_factory=list)


def _choice_label(spec: FieldSpec | None, value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if spec is not None:
        for option in spec.options:
            if option.value == value:
                return option.label.zh
    if isinstance(value, (list, tuple)):
        return "、".join(_choice_label(spec, v) for v in value)
    return str(value)


def describe(condition: Condition, fields: Mapping[str, FieldSpec]) -> str:
    """A condition in plain Chinese: 「夫妻双方均为湖南户籍」为“是”且…"""

    def phrase(comparison: Comparison) -> str:
        spec = fields.get(comparison.field.removeprefix("entry."))  # a list entry's field: its item field
        name = f"「{spec.label.zh if spec else comparison.field}」"
        op = comparison.operator
        if op == "exists":
            return f"{name}{'已' if comparison.exists else '未'}填写"
        bound = comparison.in_ if op == "in" else getattr(comparison, op)
        words = {"eq": "为", "ne": "不为", "in": "为下列之一：", "not_in": "不为下列之一：", "gt": "大于",
                 "ge": "不小于", "lt": "小于", "le": "不大于"}
        return f"{name}{words[op]}“{_choice_label(spec, bound)}”"

    def label(name: str) -> str:
        spec = fields.get(name.removeprefix("entry."))
        return spec.label.zh if spec else name

    return condition.describe(phrase, label)


def _errors_for(problems: Iterable[FieldProblem], path: str) -> list[FieldProblem]:
    return [p for p in problems if p.field == path]


def _input(spec: FieldSpec, *, name: str, path: str, value: Any, required: bool,
           problems: Iterable[FieldProblem]) -> Input:
    kind = spec.type
    return Input(
        name=name, id=name.replace(".", "-"), label=spec.label.zh, label_en=spec.label.en, type=kind.value,
        required=required, value=value, input_type=INPUT_TYPES.get(kind, "text"),
        input_mode=INPUT_MODES.get(kind, ""), placeholder=PLACEHOLDERS.get(kind, ""),
        max_length=spec.max_length if kind is FieldType.TEXT else 40,
        options=tuple((o.value, o.label.zh, o.label.en) for o in spec.options),
        errors=_errors_for(problems, path),
    )


def form_inputs(
    bundle: BundleSpec, registry: BundleRegistry, values: Mapping[str, Any], prefilled: Mapping[str, Prefilled],
    problems: Iterable[FieldProblem] = (),
) -> list[Input]:
    """The bundle's fields in order: typed values first, prefilled ones where nothing was typed."""
    fields = registry.fields
    problems = list(problems)
    inputs = []
    for use in bundle.fields:
        spec = fields[use.field]
        found = prefilled.get(use.field)
        value = values.get(use.field)
        if value in (None, "", []) and found is not None:
            value = found.value
        item = _input(spec, name=f"{PREFIX}{spec.id}", path=spec.id, value=value, required=use.required,
                      problems=problems)
        if found is not None:
            item.source = found.detail
            item.locked = not spec.correctable and str(value) == str(found.value)
        if use.when is not None:
            item.when = describe(use.when, fields)
            item.when_json = json.dumps(use.when.model_dump(mode="json", by_alias=True, exclude_none=True),
                                        ensure_ascii=False)
        if spec.type is FieldType.LIST:
            columns = [fields[name] for name in spec.item_fields]
            item.columns = tuple(_input(c, name=c.id, path=c.id, value=None, required=True, problems=()) for c in columns)
            entries = [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []
            for index in range(min(len(entries) + BLANK_ROWS, MAX_ROWS)):
                entry = entries[index] if index < len(entries) else {}
                item.rows.append([
                    _input(c, name=f"{PREFIX}{spec.id}.{index}.{c.id}", path=f"{spec.id}[{index}].{c.id}",
                           value=entry.get(c.id), required=True, problems=problems)
                    for c in columns
                ])
        inputs.append(item)
    return inputs


def _coerce(spec: FieldSpec, raw: str) -> Any:
    if spec.type is FieldType.BOOLEAN:
        return {"true": True, "false": False}.get(raw)
    return raw or None


def read_answers(bundle: BundleSpec, registry: BundleRegistry, form: Mapping[str, Any]) -> dict[str, Any]:
    """The answers typed into the form (blank inputs and blank list rows left out)."""
    fields = registry.fields
    answers: dict[str, Any] = {}
    cells: dict[str, dict[int, dict[str, str]]] = {}
    for key, raw in form.items():
        match = _CELL.match(key)
        if match and isinstance(raw, str):
            cells.setdefault(match[1], {}).setdefault(int(match[2]), {})[match[3]] = plain(raw)[:MAX_TEXT]
    for use in bundle.fields:
        spec = fields[use.field]
        if spec.type is FieldType.LIST:
            rows = cells.get(spec.id, {})
            entries = []
            for index in sorted(rows)[:MAX_ROWS]:
                row = {name: rows[index].get(name, "") for name in spec.item_fields}
                if any(row.values()):
                    entries.append(row)
            if entries:
                answers[spec.id] = entries
            continue
        raw = form.get(f"{PREFIX}{spec.id}")
        if isinstance(raw, str):
            value = _coerce(spec, plain(raw)[:MAX_TEXT])
            if value is not None:
                answers[spec.id] = value
    return answers


def identifying_fields(bundle: BundleSpec, registry: BundleRegistry) -> list[FieldSpec]:
    """The bundle's fields that unlock prefill: ID numbers other fields and materials are looked up by."""
    names: list[str] = []
    for use in bundle.fields:
        for source in registry.fields[use.field].prefill:
            if source.holder_field:
                names.append(source.holder_field)
    for step in bundle.steps:
        names += [m.holder_field for m in step.materials if m.holder_field]
    used = {use.field for use in bundle.fields}
    return [registry.fields[n] for n in dict.fromkeys(names) if n in used]


@dataclass(frozen=True)
class MaterialRow:
    name: str
    items: tuple[str, ...]
    required: bool
    reason: str


def material_rows(bundle: BundleSpec, registry: BundleRegistry, result: PrefillResult, *, answers: Mapping[str, Any],
                  waived: bool) -> list[MaterialRow]:
    """Waived (or to-supply) materials once per name, with what needs them: the items the answers
    choose (``answers`` as typed; prefilled values fill the rest, as prefill itself reads them), or
    for a material of the whole bundle (step '') the whole-bundle label."""
    items = registry.catalog.items
    known_answers = {**{name: found.value for name, found in result.values.items()},
                     **{name: value for name, value in answers.items() if value not in (None, "")}}
    found: dict[str, MaterialRow] = {}
    for material in result.materials:
        if material.waived != waived:
            continue
        if material.step:
            code = bundle.step(material.step).chosen_item(known_answers)
            item = items[code].name if code in items else code
        else:
            item = LABELS.whole_bundle
        known = found.get(material.name)
        if known is None:
            found[material.name] = MaterialRow(material.name, (item,), material.required, material.reason)
        elif item not in known.items:
            found[material.name] = MaterialRow(material.name, (*known.items, item), known.required or material.required,
                                               known.reason)
    return list(found.values())
