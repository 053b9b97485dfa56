"""Loader checks for eligibility rules (``requires``) and computed facts (``{fact: …}``).

Called by :func:`engine.spec.loader.check_bundle`; every problem is bilingual and reported
through the loader's ``add(problem, loc, step)``, which turns the data path into the file's line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.spec.conditions import Condition, Fact, facts_of, fields_of
from engine.spec.facts import APPLICANT, FACTS, FactDef
from engine.spec.models import BundleSpec, Catalog, FieldSpec, FieldType, OnFail, Requirement, StepSpec

Loc = tuple[str | int, ...]
Add = Callable[..., None]
CheckCondition = Callable[[Condition | None, Loc, str | None], None]

_ORDERED = ("gt", "ge", "lt", "le")


def check_requirements(
    bundle: BundleSpec, *, catalog: Catalog, fields: Mapping[str, FieldSpec], add: Add,
    check_condition: CheckCondition,
) -> None:
    """Rule ids unique, ``skip`` only on steps, the rules' fields declared, and every fact of every
    condition well formed (known, on declared fields of the right type, with a fitting operand)."""
    _rules(bundle.requires, ("requires",), None, add=add, check_condition=check_condition)
    for i, step in enumerate(bundle.steps):
        _rules(step.requires, ("steps", i, "requires"), step.id, add=add, check_condition=check_condition)
    for j, rule in enumerate(bundle.requires):
        _check_entries(rule, ("requires", j), None, bundle=bundle, fields=fields, add=add)
    for i, step in enumerate(bundle.steps):
        for j, rule in enumerate(step.requires):
            _check_entries(rule, ("steps", i, "requires", j), step, bundle=bundle, fields=fields, add=add)

    def facts(cond: Condition | None, loc: Loc, step: str | None, *, allowed: bool = True,
              entries: bool = False) -> None:
        found = list(facts_of(cond))
        if found and not allowed:
            add("计算事实只能用于 requires 和环节的 when / computed facts may only be used in requires and a "
                "step's when (field and material conditions are decided without the database)", loc, step)
            return
        if found and cond is not None and any(name.startswith("steps.") for name in fields_of(cond)):
            add("条件不能同时读取计算事实和环节输出 / a condition cannot read both computed facts and steps' "
                "outputs (facts are resolved at intake, outputs later)", loc, step)
        for fact in found:
            _check_fact(fact, loc, step, bundle=bundle, catalog=catalog, fields=fields, add=add, entries=entries)

    for j, rule in enumerate(bundle.requires):
        facts(rule.condition, ("requires", j, "condition"), None, entries=True)
    for j, use in enumerate(bundle.fields):
        facts(use.when, ("fields", j, "when"), None, allowed=False)
    for i, step in enumerate(bundle.steps):
        facts(step.when, ("steps", i, "when"), step.id)
        for j, rule in enumerate(step.requires):
            facts(rule.condition, ("steps", i, "requires", j, "condition"), step.id, entries=True)
        for j, material in enumerate(step.materials):
            facts(material.when, ("steps", i, "materials", j, "when"), step.id, allowed=False)


def _rules(rules: tuple[Requirement, ...], loc: Loc, step: str | None, *, add: Add,
           check_condition: CheckCondition) -> None:
    seen: set[str] = set()
    for j, rule in enumerate(rules):
        if rule.id in seen:
            add(f"规则编号 {rule.id!r} 重复 / duplicate rule id {rule.id!r}", loc + (j, "id"), step)
        seen.add(rule.id)
        if step is None and rule.on_fail is OnFail.SKIP:
            add(f"规则 {rule.id!r}：on_fail: skip 只能用于环节的规则 / rule {rule.id!r}: on_fail: skip is for "
                "step rules only (a bundle rule refuses or warns)", loc + (j, "on_fail"), step)
        check_condition(rule.condition, loc + (j, "condition"), step)


ENTRY = "entry."


def entry_fields(condition: Condition) -> list[str]:
    """The item fields a condition reads of a list entry (``entry.<field>``), in order, once each."""
    return list(dict.fromkeys(name.removeprefix(ENTRY) for name in fields_of(condition) if name.startswith(ENTRY)))


def _check_entries(
    rule: Requirement, loc: Loc, step: StepSpec | None, *, bundle: BundleSpec, fields: Mapping[str, FieldSpec],
    add: Add,
) -> None:
    """A rule reading ``entry.*`` names a list of the bundle (its ``for_each``, or its step's), and
    every field it reads of an entry is one of that list's item fields."""
    sid = step.id if step is not None else None
    reads = entry_fields(rule.condition)
    name = rule.for_each or (step.for_each if step is not None else None)
    if rule.for_each is not None:
        where = loc + ("for_each",)
        if step is not None and step.for_each not in (None, rule.for_each):
            add(f"规则 {rule.id!r} 的 for_each {rule.for_each!r} 与所属环节的列表 {step.for_each!r} 不同 / rule "
                f"{rule.id!r}: for_each {rule.for_each!r} is not its step's list {step.for_each!r} (a rule of a "
                "for_each step reads that step's entries)", where, sid)
            return
        spec = fields.get(rule.for_each)
        if rule.for_each not in {use.field for use in bundle.fields} or spec is None or spec.type is not FieldType.LIST:
            add(f"规则 {rule.id!r}：for_each {rule.for_each!r} 不是本事项的列表字段 / rule {rule.id!r}: for_each "
                f"{rule.for_each!r} is not a list field of the bundle", where, sid)
            return
        if not reads:
            add(f"规则 {rule.id!r} 未读取任何 entry.* 字段，for_each 无意义 / rule {rule.id!r}: its condition reads "
                f"no entry.* field, so for_each {rule.for_each!r} checks nothing", where, sid)
            return
    if not reads:
        return
    where = loc + ("condition",)
    if name is None:
        add(f"规则 {rule.id!r} 读取 entry.*，须以 for_each 指明列表 / rule {rule.id!r} reads entry.* but names no "
            "list: give for_each: <list field>", where, sid)
        return
    items = fields[name].item_fields if name in fields else ()
    for item in reads:
        if item not in items:
            add(f"规则 {rule.id!r}：{item!r} 不是列表 {name!r} 的条目字段 / rule {rule.id!r}: 'entry.{item}': "
                f"{item!r} is not an item field of {name!r}", where, sid)


def _check_fact(
    fact: Fact, loc: Loc, step: str | None, *, bundle: BundleSpec, catalog: Catalog,
    fields: Mapping[str, FieldSpec], add: Add, entries: bool = False,
) -> None:
    spec = FACTS.get(fact.fact)
    if spec is None:
        add(f"未知的计算事实 {fact.fact!r}（可用：{', '.join(FACTS)}） / unknown fact {fact.fact!r} "
            f"(known: {', '.join(FACTS)})", loc, step)
        return
    name = fact.fact
    of = fact.of
    if not of and not spec.applicant_default:
        add(f"事实 {name!r} 需要 of / fact {name!r} needs of (a field, or applicant)", loc, step)
    elif len(of) < spec.min_of or (spec.max_of is not None and len(of) > spec.max_of):
        most = "" if spec.max_of is None else f"-{spec.max_of}"
        add(f"事实 {name!r} 的 of 应有 {spec.min_of}{most} 项，实有 {len(of)} 项 / fact {name!r} takes "
            f"{spec.min_of}{most} of operands, got {len(of)}", loc, step)
    applicant_type = "id_number" if bundle.applicant_kind == "person" else "credit_code"
    for operand in of:
        field_name = operand
        if operand.startswith(ENTRY) and entries and spec.database:
            add(f"事实 {name!r} 按整个申请查询一次，不能基于列表条目 {operand!r} / fact {name!r} is looked up once for "
                f"the application, not for each entry ({operand!r})", loc, step)
            continue
        if operand.startswith(ENTRY) and entries:
            field_name = operand.removeprefix(ENTRY)  # computed for each entry of the rule's list
        elif operand.startswith(("entry.", "steps.")):
            add(f"事实 {name!r} 只能基于申请字段，不能基于 {operand!r} / fact {name!r} is computed from the answers "
                f"at intake, not from {operand!r} (a requires rule may compute it for each entry)", loc, step)
            continue
        kind = applicant_type if operand == APPLICANT else (
            fields[field_name].type.value if field_name in fields else None)
        if kind is not None and kind not in spec.of_types:
            add(f"事实 {name!r} 不能基于 {operand!r}（{kind}），应为 {'/'.join(sorted(spec.of_types))} 类型字段 / "
                f"fact {name!r} cannot be computed from {operand!r} ({kind}); it needs a field of type "
                f"{'/'.join(sorted(spec.of_types))}", loc, step)
    _check_params(fact, spec, loc, step, catalog=catalog, add=add)
    _check_operand(fact, spec, loc, step, add=add)


def _check_params(fact: Fact, spec: FactDef, loc: Loc, step: str | None, *, catalog: Catalog, add: Add) -> None:
    name = fact.fact
    for param, given in (("licence", bool(fact.licence)), ("region", fact.region is not None)):
        if param in spec.params and not given:
            add(f"事实 {name!r} 需要 {param} / fact {name!r} needs {param}", loc, step)
        elif param not in spec.params and given:
            add(f"事实 {name!r} 不接受 {param} / fact {name!r} takes no {param}", loc, step)
    for code in fact.licence:
        if code not in catalog.licences:
            add(f"未知的证照类型 {code!r} / unknown licence type {code!r}", loc, step)
    if fact.region is not None and not (len(fact.region) == 6 and fact.region.isdigit()):
        add(f"region 应为六位行政区划代码（如 430000），不能是 {fact.region!r} / region must be a six-digit "
            f"division code (430000 for Hunan), not {fact.region!r}", loc, step)


def _check_operand(fact: Fact, spec: FactDef, loc: Loc, step: str | None, *, add: Add) -> None:
    op, bound = fact.operator, fact.bound
    values: tuple[Any, ...] = tuple(bound) if op in ("in", "not_in") else (bound,)

    def wrong(expected: str) -> None:
        add(f"事实 {fact.fact!r} 的值为{expected}，{op}: {bound!r} 不相符 / fact {fact.fact!r} yields "
            f"{_EN[expected]}; {op}: {bound!r} does not fit", loc, step)

    match spec.value:
        case "integer":
            if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
                wrong("整数")
        case "boolean":
            if op not in ("eq", "ne") or not isinstance(bound, bool):
                wrong("是/否")
        case "text":
            if op in _ORDERED or any(not isinstance(v, str) or (spec.values and v not in spec.values)
                                     for v in values):
                wrong(f"文字（{'/'.join(spec.values)}）" if spec.values else "文字")


_EN = {"整数": "an integer", "是/否": "true or false (compare with eq/ne)", "文字": "text"}
_EN.update({f"文字（{'/'.join(f.values)}）": f"one of {', '.join(f.values)}" for f in FACTS.values() if f.values})
