"""Bundle versions: the content hash, stored snapshots and their migrations, and diffs.

A published bundle version is stored as a *snapshot* (``bundle_versions.snapshot``)::

    {"schema_version": 2, "bundle": {...}}

where ``bundle`` is the canonical dump of the spec: every value the author gave, none of the
engine's defaults. The *spec hash* is the SHA-256 of that dump (keys sorted, no whitespace), so
it names the bundle's content only: adding an optional key with a default to the spec models,
or bumping the snapshot format, changes no published bundle's hash. Anyone can check a stored
hash with ``sha256(canonical_json(snapshot["bundle"]))``, without the engine.

Two rules keep that true:

* A default's value never changes. A snapshot leaves defaults out, so a changed default would
  silently change the meaning of every published version (``tests/engine/spec/test_versions.py``
  pins them). To change one, bump :data:`SPEC_SCHEMA_VERSION` and register a migration that writes
  the old default into older snapshots where the key is absent.
* A stored snapshot is never rewritten: :func:`migrate_snapshot` brings an old one up to the
  current format each time it is read, one registered step (``vN → vN+1``) at a time, the way
  SpiffWorkflow's serializer migrates old workflow dumps.

Schema history:

* **1** (until the versions work of issue 10): ``bundle`` was the *full* dump, defaults
  included, and the hash covered ``{"schema_version": 1, "bundle": ...}``; so adding any optional
  key to the models changed every hash. Cases accepted then carry that hash
  (:func:`legacy_hash` recomputes it from a stored v1 snapshot).
* **2**: ``bundle`` excludes defaults; the hash covers ``bundle`` alone.

This module works on plain JSON data (and duck-typed specs for the diff), so the models can
import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.spec.models import BundleSpec

SPEC_SCHEMA_VERSION = 2
"""The current snapshot format; older snapshots are migrated on load (see :data:`MIGRATIONS`)."""

Snapshot = dict[str, Any]


class SnapshotError(ValueError):
    """A stored snapshot this engine cannot read (unknown or future schema version)."""


def canonical_json(data: Any) -> str:
    """The one text form of a JSON value that is hashed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(bundle: Mapping[str, Any]) -> str:
    """The spec hash of a canonical bundle dump (a v2 snapshot's ``bundle``)."""
    return hashlib.sha256(canonical_json(bundle).encode()).hexdigest()


def legacy_hash(snapshot: Mapping[str, Any]) -> str | None:
    """The hash schema 1 gave a stored v1 snapshot (what cases accepted under it carry);
    None for a snapshot of any other schema."""
    if snapshot.get("schema_version") != 1:
        return None
    return hashlib.sha256(canonical_json(snapshot).encode()).hexdigest()


# --- migrations --------------------------------------------------------------------------

# The defaults of the schema-1 models, frozen here (a migration must not follow the live models):
# a v1 snapshot wrote them all out, a v2 snapshot leaves them out.
_V1_BUNDLE: dict[str, Any] = {"theme_code": None, "on_step_rejected": "continue", "description": "", "fields": []}
_V1_FIELD_USE: dict[str, Any] = {"required": True, "when": None}
_V1_STEP: dict[str, Any] = {
    "department": None, "kind": "human", "depends_on": [], "depends_on_any": [], "when": None,
    "min_wait": None, "excluded_from_limit": False, "fields": [], "for_each": None, "materials": [],
    "handler": None,
}
_V1_MATERIAL: dict[str, Any] = {"code": None, "licence": None, "holder_field": None, "required": True, "when": None, "note": ""}
_V1_OUTPUT: dict[str, Any] = {"result": "", "licence": None, "holders": [], "attributes": {}}
_V1_COMPARISON: dict[str, Any] = dict.fromkeys(("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "exists"))


def _strip(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (k in defaults and v == defaults[k])}


def _v1_condition(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if "all" in node or "any" in node:
        key = "all" if "all" in node else "any"
        return {**node, key: [_v1_condition(n) for n in node[key]]}
    if "not" in node:
        return {**node, "not": _v1_condition(node["not"])}
    return _strip(node, _V1_COMPARISON)


def _with_condition(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("when") is not None:
        data["when"] = _v1_condition(data["when"])
    return data


def _v1_to_v2(snapshot: Snapshot) -> Snapshot:
    """Schema 1 → 2: leave out the values that were the schema-1 defaults."""
    bundle = _strip(snapshot["bundle"], _V1_BUNDLE)
    if "fields" in bundle:
        bundle["fields"] = [_with_condition(_strip(use, _V1_FIELD_USE)) for use in bundle["fields"]]
    steps = []
    for raw in bundle.get("steps", []):
        step = _with_condition(_strip(raw, _V1_STEP))
        if "materials" in step:
            step["materials"] = [_with_condition(_strip(m, _V1_MATERIAL)) for m in step["materials"]]
        outputs = _strip(step.get("outputs", {}), _V1_OUTPUT)
        if outputs:
            step["outputs"] = outputs
        else:
            step.pop("outputs", None)
        steps.append(step)
    bundle["steps"] = steps
    return {"schema_version": 2, "bundle": bundle}


MIGRATIONS: Mapping[int, Callable[[Snapshot], Snapshot]] = {1: _v1_to_v2}
"""Schema version N → the function that turns a version-N snapshot into version N+1."""


def migrate_snapshot(snapshot: Mapping[str, Any]) -> Snapshot:
    """Bring a stored snapshot up to :data:`SPEC_SCHEMA_VERSION` (a new dict; the input is untouched)."""
    version = snapshot.get("schema_version")
    if type(version) is not int or not 1 <= version <= SPEC_SCHEMA_VERSION or "bundle" not in snapshot:
        raise SnapshotError(
            f"unknown bundle snapshot schema_version {version!r} (this engine reads 1 to {SPEC_SCHEMA_VERSION}) / "
            f"无法识别的事项快照版本 {version!r}"
        )
    data: Snapshot = json.loads(json.dumps(dict(snapshot)))  # a deep copy: never alter a stored row
    while data["schema_version"] < SPEC_SCHEMA_VERSION:
        data = MIGRATIONS[data["schema_version"]](data)
    return data


# --- diffs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepChange:
    """One step present in both versions whose declaration differs: the keys that changed."""

    id: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class BundleDiff:
    """What changed from one bundle version to another."""

    bundle_id: str
    old_version: int
    new_version: int
    steps_added: tuple[str, ...] = ()
    steps_removed: tuple[str, ...] = ()
    steps_changed: tuple[StepChange, ...] = ()
    bundle_keys_changed: tuple[str, ...] = field(default=())
    """Bundle-level keys (besides ``version`` and ``steps``) whose values differ."""

    @property
    def empty(self) -> bool:
        return not (self.steps_added or self.steps_removed or self.steps_changed or self.bundle_keys_changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id, "from_version": self.old_version, "to_version": self.new_version,
            "steps_added": list(self.steps_added), "steps_removed": list(self.steps_removed),
            "steps_changed": [{"id": c.id, "keys": list(c.keys)} for c in self.steps_changed],
            "bundle_keys_changed": list(self.bundle_keys_changed),
        }

    def lines(self) -> list[str]:
        """The diff as the CLI prints it, one change a line."""
        out = [f"{self.bundle_id} {self.old_version} -> {self.new_version}"]
        out += [f"+ step {s}" for s in self.steps_added]
        out += [f"- step {s}" for s in self.steps_removed]
        out += [f"~ step {c.id}: {', '.join(c.keys)}" for c in self.steps_changed]
        out += [f"~ bundle {k}" for k in self.bundle_keys_changed]
        if self.empty:
            out.append("no changes / 无变化")
        return out


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], *, ignore: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(sorted(k for k in old.keys() | new.keys() if k not in ignore and old.get(k) != new.get(k)))


def diff_specs(old: BundleSpec, new: BundleSpec) -> BundleDiff:
    """Steps added, removed and changed (with the changed keys) from ``old`` to ``new``."""
    old_dump = old.canonical()
    new_dump = new.canonical()
    old_steps = {s["id"]: s for s in old_dump["steps"]}
    new_steps = {s["id"]: s for s in new_dump["steps"]}
    changed = tuple(
        StepChange(sid, keys)
        for sid in new_steps if sid in old_steps
        if (keys := _changed_keys(old_steps[sid], new_steps[sid]))
    )
    return BundleDiff(
        bundle_id=new.id, old_version=old.version, new_version=new.version,
        steps_added=tuple(s for s in new_steps if s not in old_steps),
        steps_removed=tuple(s for s in old_steps if s not in new_steps),
        steps_changed=changed,
        bundle_keys_changed=_changed_keys(old_dump, new_dump, ignore=("version", "steps")),
    )
