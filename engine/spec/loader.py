"""Load and check bundle YAML, the catalog and the field dictionary.

Every problem is reported with the file, the line, the step and what is wrong, and all
problems of a directory are collected before failing, so an author fixes them in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.people.offices import Office, OfficeDirectory, office_problems
from engine.spec.time_checks import check_bundle_time, check_step_time
from engine.spec.conditions import Condition, fields_of
from engine.spec.graph_checks import check_graph
from engine.spec.material_checks import check_materials
from engine.spec.routing_checks import check_routing
from engine.spec.commitment_checks import check_commitments
from engine.spec.fact_checks import check_requirements
from engine.spec.models import (
    BundleSpec,
    Catalog,
    Department,
    FieldSpec,
    FieldType,
    LicenceType,
    ServiceItem,
    StepSpec,
)

BUNDLES_DIR = Path(__file__).resolve().parents[2] / "bundles"
FIELDS_FILE = Path(__file__).resolve().parents[2] / "forms" / "fields.yaml"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SpecProblem:
    """One problem found in a spec file."""

    file: Path
    line: int | None
    problem: str
    step: str | None = None
    warning: bool = False
    """A warning (``bundles check`` prints it) rather than an error that refuses the file."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        step = f" step {self.step!r}:" if self.step else ""
        return f"{where}:{step} {self.problem}"


class SpecError(ValueError):
    """Raised when spec files are invalid; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[SpecProblem], warnings: Sequence[SpecProblem] = ()) -> None:
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class _Doc:
    """A parsed YAML file with its node tree, to turn a data path into a line number."""

    path: Path
    data: Any
    node: yaml.Node | None

    def line(self, loc: Iterable[str | int]) -> int | None:
        node = self.node
        best = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                # The key's line, not its value's: a block value starts on the next line.
                pair = next(((k, v) for k, v in node.value if k.value == key), None)
                if pair is None:
                    break
                best = pair[0].start_mark.line + 1
                node = pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                best = node.start_mark.line + 1
            else:
                break
        return best


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (ten times faster), else the pure one."""


def _pure_error(text: str, error: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """The pure-Python parser's account of a syntax error (its wording is the one users know)."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as pure:
        return pure
    return error


def _read(path: Path, problems: list[SpecProblem]) -> _Doc | None:
    try:
        text = path.read_text(encoding="utf-8")
        # One parse (libyaml's when installed) gives the node tree (for line numbers) and the data.
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        exc = _pure_error(text, exc)
        mark = exc.problem_mark
        problems.append(SpecProblem(path, mark.line + 1 if mark else None, f"invalid YAML: {exc.problem}"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(SpecProblem(path, None, f"cannot read: {exc}"))
        return None
    return _Doc(path, data, node)


def _validate(
    model: type[M], doc: _Doc, data: Any, *, loc: tuple[str | int, ...], problems: list[SpecProblem]
) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for err in errors:
            if err["type"] == "too_short" and any(
                len(o["loc"]) > len(err["loc"]) and o["loc"][: len(err["loc"])] == err["loc"] for o in errors
            ):
                continue  # pydantic counts only the valid items; the invalid ones are reported themselves
            full = loc + tuple(err["loc"])
            problems.append(
                SpecProblem(doc.path, doc.line(full), f"{_dotted(err['loc'])}: {err['msg']}", _step_of(doc, full))
            )
        return None


def _dotted(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p[0].isupper())) or "(top)"


def _step_of(doc: _Doc, loc: tuple[Any, ...]) -> str | None:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and isinstance(doc.data, dict):
        steps = doc.data.get("steps")
        if isinstance(steps, list) and loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
            return str(steps[loc[1]].get("id", f"#{loc[1] + 1}"))
    return None


def _keyed(
    model: type[M], path: Path, key: str, problems: list[SpecProblem], where: dict[str, _Where] | None = None
) -> dict[str, M]:
    """Read a YAML list of records into a dict by ``key``, refusing duplicates; ``where`` gets each
    record's file and index, for the lines of later cross-checks."""
    doc = _read(path, problems)
    out: dict[str, M] = {}
    if doc is None:
        return out
    if not isinstance(doc.data, list):
        problems.append(SpecProblem(path, doc.line(()), "expected a list of records"))
        return out
    for i, raw in enumerate(doc.data):
        record = _validate(model, doc, raw, loc=(i,), problems=problems)
        if record is None:
            continue
        ident = getattr(record, key)
        if ident in out:
            problems.append(SpecProblem(path, doc.line((i,)), f"duplicate {key} {ident!r}"))
        out[ident] = record
        if where is not None:
            where[ident] = _Where(doc, i)
    return out


@dataclass(frozen=True)
class _Where:
    """A record of a catalog or field-dictionary file: a problem found later names its line."""

    doc: _Doc
    index: int

    def problem(self, text: str, *sub: str | int) -> SpecProblem:
        return SpecProblem(self.doc.path, self.doc.line((self.index, *sub)), text)


def load_catalog(directory: Path) -> Catalog:
    """Load ``departments.yaml``, ``items.yaml``, ``licences.yaml`` and ``offices.yaml`` from a catalog folder."""
    problems: list[SpecProblem] = []
    catalog = _load_catalog(directory, problems)
    if problems:
        raise SpecError(problems)
    return catalog


def _load_catalog(directory: Path, problems: list[SpecProblem]) -> Catalog:
    if not directory.is_dir():
        problems.append(SpecProblem(directory, None, "no catalog folder (departments.yaml, items.yaml, licences.yaml) / "
                                                     "缺少 catalog 目录（部门、事项、证照目录）"))
        return Catalog(departments={}, items={}, licences={})
    departments = _keyed(Department, directory / "departments.yaml", "code", problems)
    where: dict[str, _Where] = {}
    items = _keyed(ServiceItem, directory / "items.yaml", "code", problems, where)
    licences = _keyed(LicenceType, directory / "licences.yaml", "code", problems)
    for code, item in items.items():
        if item.department not in departments:
            problems.append(where[code].problem(
                f"item {code!r}: unknown department {item.department!r} / 事项 {code!r} 的部门 {item.department!r} 不存在",
                "department"))
    offices = _load_offices(directory / "offices.yaml", departments, problems)
    return Catalog(departments=departments, items=items, licences=licences, offices=offices)


def _load_offices(path: Path, departments: Collection[str], problems: list[SpecProblem]) -> OfficeDirectory:
    """The office directory (optional: a catalog without ``offices.yaml`` routes every step to no
    office); an unknown department or region, or a second office of a department at one region, is
    refused with its line."""
    if not path.exists():
        return OfficeDirectory()
    doc = _read(path, problems)
    if doc is None:
        return OfficeDirectory()
    if not isinstance(doc.data, list):
        problems.append(SpecProblem(path, doc.line(()), "expected a list of offices / 应为办理机构列表"))
        return OfficeDirectory()
    found: dict[str, tuple[Office, int | None]] = {}
    for i, raw in enumerate(doc.data):
        office = _validate(Office, doc, raw, loc=(i,), problems=problems)
        if office is None:
            continue
        line = doc.line((i,))
        for text in office_problems(office, departments):
            problems.append(SpecProblem(path, line, text))
        if office.id in found:
            first = found[office.id][1]
            problems.append(SpecProblem(path, line, f"duplicate office {office.id} (also at line {first}) / "
                                                    f"办理机构 {office.id} 重复（第 {first} 行已有）"))
            continue
        found[office.id] = (office, line)
    return OfficeDirectory(offices=tuple(office for office, _ in found.values()))


def _load_fields(path: Path, catalog: Catalog, problems: list[SpecProblem]) -> dict[str, FieldSpec]:
    where: dict[str, _Where] = {}
    fields = _keyed(FieldSpec, path, "id", problems, where)
    for spec in fields.values():
        at = where[spec.id]
        for j, item in enumerate(spec.item_fields):
            if item not in fields:
                problems.append(at.problem(f"field {spec.id!r}: unknown item field {item!r} / 未知条目字段 {item!r}",
                                           "item_fields", j))
        for j, source in enumerate(spec.prefill):
            if source.licence not in catalog.licences:
                problems.append(at.problem(f"field {spec.id!r}: unknown licence type {source.licence!r} / "
                                           f"未知证照类型 {source.licence!r}", "prefill", j, "licence"))
            elif source.attribute not in catalog.licences[source.licence].attributes:
                problems.append(at.problem(f"field {spec.id!r}: licence {source.licence!r} has no attribute "
                                           f"{source.attribute!r} / 证照 {source.licence!r} 没有属性 {source.attribute!r}",
                                           "prefill", j, "attribute"))
    return fields


@dataclass
class BundleRegistry:
    """The current bundles, with the catalog and field dictionary they were checked against."""

    catalog: Catalog
    fields: Mapping[str, FieldSpec]
    bundles: dict[str, BundleSpec] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    drafts: frozenset[str] = frozenset()
    """Bundles served as drafts: driven like the others, never published."""
    warnings: tuple[SpecProblem, ...] = ()
    """What the loader warned about (a limit longer than the bundle's): printed, not refused."""

    def get(self, bundle_id: str) -> BundleSpec:
        return self.bundles[bundle_id]

    def with_draft(self, spec: BundleSpec, *, path: Path | None = None) -> BundleRegistry:
        """A copy serving ``spec`` as a draft (replacing a current bundle of the same id)."""
        files = dict(self.files)
        if path is not None:
            files[spec.id] = path
        return BundleRegistry(catalog=self.catalog, fields=self.fields, bundles={**self.bundles, spec.id: spec},
                              files=files, drafts=self.drafts | {spec.id}, warnings=self.warnings)

    def __iter__(self) -> Iterator[BundleSpec]:
        return iter(sorted(self.bundles.values(), key=lambda b: b.id))


def load_registry(
    bundles_dir: Path = BUNDLES_DIR, fields_file: Path = FIELDS_FILE, *, handlers: Collection[str] | None = None
) -> BundleRegistry:
    """Load every ``*.yaml`` bundle in ``bundles_dir`` against its ``catalog/`` (required: there is
    no fallback to the packaged one) and the field dictionary. ``handlers``, when given, are the
    registered automated-step handler names every ``handler:`` must be one of.

    Raises :class:`SpecError` listing every problem of every file; warnings (a limit longer than the
    bundle's) are kept in :attr:`BundleRegistry.warnings`.
    """
    problems: list[SpecProblem] = []
    warnings: list[SpecProblem] = []
    catalog = _load_catalog(bundles_dir / "catalog", problems)
    fields = _load_fields(fields_file, catalog, problems)
    registry = BundleRegistry(catalog=catalog, fields=fields)
    paths = sorted(p for p in bundles_dir.glob("*.yaml") if p.is_file())
    if not paths:
        problems.append(SpecProblem(bundles_dir, None, "no bundle files (*.yaml) found / 未找到事项文件"))
    for path in paths:
        loaded = _load_bundle(path, catalog, fields, problems, handlers=handlers, warnings=warnings)
        if loaded is None:
            continue
        bundle, doc = loaded
        if bundle.id in registry.bundles:
            problems.append(
                SpecProblem(path, doc.line(("id",)), f"duplicate bundle id {bundle.id!r} (also in {registry.files[bundle.id]})")
            )
            continue
        registry.bundles[bundle.id] = bundle
        registry.files[bundle.id] = path
    if problems:
        raise SpecError(problems, warnings)
    registry.warnings = tuple(warnings)
    return registry


def _load_bundle(
    path: Path, catalog: Catalog, fields: Mapping[str, FieldSpec], problems: list[SpecProblem], *,
    handlers: Collection[str] | None = None, warnings: list[SpecProblem] | None = None,
) -> tuple[BundleSpec, _Doc] | None:
    """One bundle file, validated and cross-checked; None (with its problems added) if invalid.

    A file with schema errors is still cross-checked: its invalid steps are replaced by
    placeholders, so its reference problems are reported in the same pass.
    """
    doc = _read(path, problems)
    if doc is None:
        return None
    bundle = _validate(BundleSpec, doc, doc.data, loc=(), problems=problems)
    if bundle is None:
        salvaged = _salvage(doc.data, catalog)
        if salvaged is not None:
            partial, placeholders = salvaged
            problems.extend(p for p in check_bundle(partial, catalog, fields, doc, handlers=handlers)
                            if p.step not in placeholders)
        return None
    errors = check_bundle(bundle, catalog, fields, doc, handlers=handlers, warnings=warnings)
    problems.extend(errors)
    if errors:
        return None
    return bundle, doc


_STEP_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER_TOP: dict[str, Any] = {
    "id": "invalid", "version": 1, "name": {"zh": "?", "en": "?"}, "applicant_kind": "person",
    "time_limit": {"working_days": 1},
}


def _salvage(data: Any, catalog: Catalog) -> tuple[BundleSpec, frozenset[str]] | None:
    """The bundle with each invalid step replaced by a placeholder of the same id (so steps that
    depend on it still resolve), invalid required keys by placeholders and invalid optional keys
    left out; with the placeholder ids. None when nothing sensible is left to cross-check."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not catalog.items:
        return None
    try:
        BundleSpec.model_validate(data)
        return None
    except ValidationError as exc:
        errors = exc.errors()
    salvaged = dict(data)
    steps: list[Any] = list(data["steps"])
    uses: list[Any] = list(data["fields"]) if isinstance(data.get("fields"), list) else []
    placeholders: set[str] = set()
    item = next(iter(catalog.items))
    for err in errors:
        loc = err["loc"]
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and loc[1] < len(steps):
            raw = data["steps"][loc[1]]
            sid = raw.get("id") if isinstance(raw, dict) else None
            sid = sid if isinstance(sid, str) and _STEP_ID.match(sid) else f"invalid_step_{loc[1] + 1}"
            steps[loc[1]] = {"id": sid, "item": item, "time_limit": {"working_days": 1}}
            placeholders.add(sid)
        elif len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int) and loc[1] < len(uses):
            raw = data["fields"][loc[1]]
            if not (isinstance(raw, dict) and isinstance(raw.get("field"), str)):
                return None  # the field's name is unknown: every check on it would mislead
            uses[loc[1]] = {"field": raw["field"]}
        elif loc and loc[0] in _PLACEHOLDER_TOP:
            salvaged[str(loc[0])] = _PLACEHOLDER_TOP[str(loc[0])]
        elif loc and loc[0] not in ("steps", "fields"):
            salvaged.pop(str(loc[0]), None)
        else:
            return None
    salvaged["steps"] = steps
    if uses:
        salvaged["fields"] = uses
    try:
        return BundleSpec.model_validate(salvaged), frozenset(placeholders)
    except ValidationError:
        return None


def load_draft(path: Path, registry: BundleRegistry, *, handlers: Collection[str] | None = None) -> BundleSpec:
    """Load one bundle file as a draft, checked against ``registry``'s catalog and field dictionary
    exactly as :func:`load_registry` checks a current bundle, but not added to any folder: serve it
    with :meth:`engine.runtime.Runtime.with_draft` to drive it in tests without publishing it.

    Raises :class:`SpecError` listing every problem of the file.
    """
    problems: list[SpecProblem] = []
    loaded = _load_bundle(path, registry.catalog, registry.fields, problems, handlers=handlers)
    if loaded is None:
        raise SpecError(problems)
    return loaded[0]


def check_bundle(
    bundle: BundleSpec, catalog: Catalog, fields: Mapping[str, FieldSpec], doc: _Doc | None = None, *,
    handlers: Collection[str] | None = None, warnings: list[SpecProblem] | None = None,
) -> list[SpecProblem]:
    """Cross-reference checks a single model cannot make on its own. ``handlers``: the registered
    handler names (None: not checked); ``warnings`` collects what is worth saying but not refusing."""
    path = doc.path if doc else Path(f"<{bundle.id}>")
    problems: list[SpecProblem] = []

    def add(problem: str, loc: tuple[str | int, ...] = (), step: str | None = None) -> None:
        problems.append(SpecProblem(path, doc.line(loc) if doc else None, problem, step))

    def warn(problem: str, loc: tuple[str | int, ...] = (), step: str | None = None) -> None:
        if warnings is not None:
            warnings.append(SpecProblem(path, doc.line(loc) if doc else None, problem, step, warning=True))

    declared: set[str] = set()
    for i, use in enumerate(bundle.fields):
        if use.field not in fields:
            add(f"unknown field {use.field!r} (not in the field dictionary)", ("fields", i))
        elif use.field in declared:
            add(f"field {use.field!r} is listed twice", ("fields", i))
        declared.add(use.field)
        for item in fields[use.field].item_fields if use.field in fields else ():
            declared.add(item)

    def check_condition(cond: Condition | None, loc: tuple[str | int, ...], step: str | None) -> None:
        for name in fields_of(cond) if cond is not None else ():
            if name.startswith(("entry.", "steps.")):
                if name.startswith("entry.") and loc[-1:] == ("condition",) and "requires" in loc:
                    continue  # a rule on each entry of a list: checked by check_requirements
                if not (step is not None and loc[-1:] == ("when",) and len(loc) == 3):
                    add(f"{name!r}: only a step's own when may read entry.* or steps.* (and a requires rule "
                        f"entry.*) / 只有步骤本身的 when 可引用 entry.* 或 steps.*（requires 规则可引用 entry.*）", loc, step)
                continue  # a step's when: checked by _check_references
            if name not in declared:
                add(f"condition on undeclared field {name!r}", loc, step)

    for i, use in enumerate(bundle.fields):
        check_condition(use.when, ("fields", i, "when"), None)

    seen: dict[str, int] = {}
    for i, step in enumerate(bundle.steps):
        if step.id in seen:
            add(f"duplicate step id {step.id!r}", ("steps", i, "id"), step.id)
        seen[step.id] = i
    for i, step in enumerate(bundle.steps):
        _check_step(step, ("steps", i), catalog=catalog, fields=fields, declared=declared, steps=seen, add=add,
                    check_condition=check_condition)
        _check_references(bundle, step, ("steps", i), fields=fields, add=add)
        check_step_time(step, ("steps", i), add=add)
        _check_lists_and_licences(bundle, step, ("steps", i), catalog=catalog, fields=fields, declared=declared,
                                  add=add)

    check_bundle_time(bundle, add=add)
    check_graph(bundle, handlers=handlers, add=add, warn=warn)
    check_materials(bundle, catalog=catalog, declared=declared, add=add, check_condition=check_condition)
    check_routing(bundle, catalog=catalog, fields=fields, declared=declared, add=add)
    check_commitments(bundle, add=add, warn=warn)
    check_requirements(bundle, catalog=catalog, fields=fields, add=add, check_condition=check_condition)
    if not any(p.problem.startswith("unknown dependency") for p in problems):
        graph = {s.id: set(s.prerequisites) for s in bundle.steps}
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            # graphlib lists each node before its dependent; show "a -> b" as "a depends on b".
            cycle = list(reversed(exc.args[1]))
            first = next(i for i, s in enumerate(bundle.steps) if s.id == cycle[0])
            add(f"dependency cycle: {' -> '.join(cycle)} (each step depends on the next)", ("steps", first), cycle[0])
    return problems


def _check_step(
    step: StepSpec,
    loc: tuple[str | int, ...],
    *,
    catalog: Catalog,
    fields: Mapping[str, FieldSpec],
    declared: set[str],
    steps: Mapping[str, int],
    add: Any,
    check_condition: Any,
) -> None:
    sid = step.id
    if step.item not in catalog.items:
        add(f"unknown service item {step.item!r}", loc + ("item",), sid)
    department = step.department or (catalog.items[step.item].department if step.item in catalog.items else None)
    if department is not None and department not in catalog.departments:
        add(f"unknown department {department!r}", loc + ("department",), sid)
    for key in ("depends_on", "depends_on_any"):
        for j, dep in enumerate(getattr(step, key)):
            if dep not in steps:
                add(f"unknown dependency {dep!r}", loc + (key, j), sid)
            elif dep == sid:
                add("a step cannot depend on itself", loc + (key, j), sid)
    if len(step.depends_on_any) == 1:
        add("depends_on_any needs at least two alternatives", loc + ("depends_on_any",), sid)
    check_condition(step.when, loc + ("when",), sid)
    for j, name in enumerate(step.fields):
        if name not in declared:
            add(f"step field {name!r} is not a field of the bundle", loc + ("fields", j), sid)
    if step.for_each is not None:
        spec = fields.get(step.for_each)
        if step.for_each not in declared or spec is None or spec.type is not FieldType.LIST:
            add(f"for_each {step.for_each!r} must be a list field of the bundle", loc + ("for_each",), sid)
    for j, material in enumerate(step.materials):
        if material.licence is not None and material.licence not in catalog.licences:
            add(f"material {material.name!r}: unknown licence type {material.licence!r}", loc + ("materials", j), sid)
        check_condition(material.when, loc + ("materials", j, "when"), sid)
        if material.holder_field is not None and material.holder_field not in declared:
            add(f"material {material.name!r}: holder_field {material.holder_field!r} is not a field of the bundle",
                loc + ("materials", j, "holder_field"), sid)
    _check_outputs(step, loc, catalog=catalog, declared=declared, add=add)


def _check_outputs(
    step: StepSpec, loc: tuple[str | int, ...], *, catalog: Catalog, declared: set[str], add: Any
) -> None:
    outputs, sid = step.outputs, step.id
    if outputs.licence is not None and outputs.licence not in catalog.licences:
        add(f"unknown output licence type {outputs.licence!r}", loc + ("outputs", "licence"), sid)
        return
    for name in (*outputs.holders, *outputs.attributes.values()):
        if name not in declared:
            add(f"output field {name!r} is not a field of the bundle", loc + ("outputs",), sid)
    if outputs.licence is not None:
        known = catalog.licences[outputs.licence].attributes
        for attribute in outputs.attributes:
            if attribute not in known:
                add(f"licence {outputs.licence!r} has no attribute {attribute!r}", loc + ("outputs", "attributes"), sid)
    elif outputs.holders or outputs.attributes:
        add("outputs.holders/attributes need an output licence", loc + ("outputs",), sid)


def _ancestors(bundle: BundleSpec, step: StepSpec) -> set[str]:
    """Every step ``step`` waits for, directly or transitively (known ids only)."""
    known = {s.id for s in bundle.steps}
    found: set[str] = set()
    todo = [d for d in step.prerequisites if d in known]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(d for d in bundle.step(current).prerequisites if d in known and d not in found)
    return found


def _check_references(
    bundle: BundleSpec, step: StepSpec, loc: tuple[str | int, ...], *, fields: Mapping[str, FieldSpec], add: Any
) -> None:
    """A step's ``when`` may read its own list entry (``entry.<field>``) and the outputs of steps
    it waits for (``steps.<id>.outputs.<name>``): each reference must name a real field or step."""
    if step.when is None:
        return
    sid, where = step.id, loc + ("when",)
    list_spec = fields.get(step.for_each) if step.for_each else None
    before = _ancestors(bundle, step)
    for name in fields_of(step.when):
        if name.startswith("entry."):
            field_name = name.removeprefix("entry.")
            if list_spec is None:
                add(f"{name!r}: entry.* needs a for_each step / entry.* 只能用于 for_each 步骤", where, sid)
            elif field_name not in list_spec.item_fields:
                add(f"{name!r}: {field_name!r} is not an item field of {step.for_each!r} / "
                    f"{field_name!r} 不是列表 {step.for_each!r} 的条目字段", where, sid)
        elif name.startswith("steps."):
            parts = name.split(".")
            if len(parts) != 4 or parts[2] != "outputs" or not parts[3]:
                add(f"{name!r}: write steps.<step id>.outputs.<name> / 应写作 steps.<步骤>.outputs.<名称>", where, sid)
            elif parts[1] not in before:
                add(f"{name!r}: step {parts[1]!r} is not a step this step waits for (depends_on, directly or "
                    f"through others) / 步骤 {parts[1]!r} 不是本步骤的前置步骤", where, sid)
            elif (other := bundle.step(parts[1])).for_each is not None and other.for_each != step.for_each:
                add(f"{name!r}: step {parts[1]!r} runs once per entry of {other.for_each!r}; only a step of the "
                    f"same list may read its outputs / 步骤 {parts[1]!r} 按列表条目办理，只有同一列表的步骤可引用其输出",
                    where, sid)


def _check_lists_and_licences(
    bundle: BundleSpec, step: StepSpec, loc: tuple[str | int, ...], *, catalog: Catalog,
    fields: Mapping[str, FieldSpec], declared: set[str], add: Any,
) -> None:
    """An item chosen by an answer, licence validity and revocation."""
    sid = step.id
    choice = step.item_choice
    if choice is not None:
        spec = fields.get(choice.by)
        if choice.by not in declared or spec is None or spec.type is not FieldType.CHOICE:
            add(f"item.by {choice.by!r} must be a choice field of the bundle / item.by 须为本事项的选项字段",
                loc + ("item",), sid)
        else:
            options = {o.value for o in spec.options}
            for answer in choice.map:
                if answer not in options:
                    add(f"item.map: {answer!r} is not an option of {choice.by!r} / {answer!r} 不是 {choice.by!r} 的选项",
                        loc + ("item",), sid)
        for answer, code in choice.map.items():
            if code not in catalog.items:
                add(f"item.map {answer!r}: unknown service item {code!r} / 未知事项 {code!r}", loc + ("item",), sid)
    outputs = step.outputs
    if (outputs.valid_for is not None or outputs.valid_until_output is not None) and outputs.licence is None:
        add("outputs.valid_for/valid_until_output need an output licence / 有效期需配合输出证照", loc + ("outputs",), sid)
    item_fields = set(fields[step.for_each].item_fields) if step.for_each and step.for_each in fields else set()
    for j, revocation in enumerate(step.revokes):
        where = loc + ("revokes", j) if len(step.revokes) > 1 else loc + ("revokes",)
        if revocation.licence not in catalog.licences:
            add(f"revokes: unknown licence type {revocation.licence!r} / 未知证照类型 {revocation.licence!r}", where, sid)
        holder = revocation.holder_field
        if holder is not None and holder not in declared and holder not in item_fields:
            add(f"revokes: holder_field {holder!r} is not a field of the bundle / holder_field {holder!r} 不是本事项的字段",
                where, sid)
