"""Bundle versions: the content hash, snapshot migrations, upgrading a published database, drafts, diffs.

``tests/fixtures/spec_v1/`` is what the previous code (snapshot schema 1, commit 5361254) left:
its bundles folder, catalog and field dictionary, and ``published_v1.json`` — for every bundle the
``bundle_versions`` row it published (version, hash, snapshot), written by that code itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from engine.db.models import BundleVersion, Case
from engine.machine.actions import claim_step, complete_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import StepState
from engine.runtime import Runtime, SpecConflict, diff_versions, published_versions, publish_bundles
from engine.spec import versions
from engine.spec.conditions import Comparison
from engine.spec.loader import SpecError, load_draft, load_registry
from engine.spec.models import BundleSpec, FieldUse, Material, Output, StepSpec
from engine.spec.versions import SPEC_SCHEMA_VERSION, SnapshotError, content_hash, diff_specs, legacy_hash, migrate_snapshot
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.conftest import Database
from tests.engine.sample_people import CLERK, GROOM, marriage_answers, officer

V1 = Path(__file__).resolve().parents[2] / "fixtures" / "spec_v1"
PUBLISHED_V1: dict[str, dict[str, Any]] = json.loads((V1 / "published_v1.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def v1_registry():  # type: ignore[no-untyped-def]
    return load_registry(V1 / "bundles", V1 / "fields.yaml")


# --- the hash and the snapshot format ------------------------------------------------------


@pytest.mark.parametrize("bundle_id", sorted(PUBLISHED_V1))
def test_a_stored_v1_snapshot_loads_migrates_and_redumps_equal(bundle_id: str, v1_registry) -> None:  # type: ignore[no-untyped-def]
    row = PUBLISHED_V1[bundle_id]
    stored = row["snapshot"]
    untouched = json.loads(json.dumps(stored))
    assert stored["schema_version"] == 1
    migrated = migrate_snapshot(stored)
    assert stored == untouched  # a stored row is never altered
    assert migrated["schema_version"] == SPEC_SCHEMA_VERSION
    spec = BundleSpec.from_snapshot(stored)
    assert spec.snapshot() == migrated  # re-dumps equal
    assert BundleSpec.from_snapshot(migrated) == spec
    # the same spec as the file it was published from, and as the full v1 dump read directly
    assert spec == v1_registry.get(bundle_id) == BundleSpec.model_validate(stored["bundle"])
    assert spec.spec_hash == v1_registry.get(bundle_id).spec_hash == content_hash(migrated["bundle"])
    # the old scheme's hash is recomputed exactly from the stored snapshot (cases carry it)
    assert legacy_hash(stored) == row["spec_hash"] != spec.spec_hash
    assert legacy_hash(migrated) is None


def test_the_hash_is_the_canonical_dump_without_defaults() -> None:
    spec = load_registry().get("marriage")
    canonical = spec.canonical()
    assert "on_step_rejected" not in canonical  # a default
    assert all("kind" not in s for s in canonical["steps"] if spec.step(s["id"]).kind.value == "human")
    assert spec.spec_hash == content_hash(canonical) == content_hash(spec.snapshot()["bundle"])
    assert content_hash(canonical) == __import__("hashlib").sha256(versions.canonical_json(canonical).encode()).hexdigest()


def test_adding_an_optional_key_to_the_models_changes_no_hash() -> None:
    """What other work does all the time: a new optional key with a default, no YAML change."""

    class StepPlus(StepSpec):
        new_flag: bool = False
        new_limit: int | None = None

    class BundlePlus(BundleSpec):
        new_bundle_key: str = ""
        steps: tuple[StepPlus, ...] = Field(min_length=1)

    for spec in load_registry():
        plus = BundlePlus.model_validate(spec.model_dump(mode="python", by_alias=True))
        assert plus.spec_hash == spec.spec_hash, spec.id
        # and a stored snapshot of either reads back under the other
        assert BundleSpec.from_snapshot(plus.snapshot()) == spec


def test_a_value_equal_to_a_default_written_out_hashes_like_the_default_left_out() -> None:
    base = {"id": "c", "version": 1, "name": {"zh": "样", "en": "S"}, "applicant_kind": "person",
            "time_limit": {"working_days": 5},
            "steps": [{"id": "a", "item": "11-JHDJ", "time_limit": {"working_days": 5}}]}
    spelled = json.loads(json.dumps(base))
    spelled["on_step_rejected"] = "continue"
    spelled["steps"][0].update(kind="human", depends_on=[], excluded_from_limit=False)
    assert BundleSpec.model_validate(base).spec_hash == BundleSpec.model_validate(spelled).spec_hash


_V1_TABLES: dict[type[BaseModel], dict[str, Any]] = {
    BundleSpec: versions._V1_BUNDLE, FieldUse: versions._V1_FIELD_USE, StepSpec: versions._V1_STEP,
    Material: versions._V1_MATERIAL, Output: versions._V1_OUTPUT, Comparison: versions._V1_COMPARISON,
}


@pytest.mark.parametrize("model", list(_V1_TABLES), ids=lambda m: m.__name__)
def test_schema_1_defaults_never_change(model: type[BaseModel]) -> None:
    """A snapshot leaves defaults out, so changing one would change every published version's
    meaning: it needs a new schema version with a migration that writes the old default in."""
    by_key = {(info.alias or name): info for name, info in model.model_fields.items()}
    for key, frozen in _V1_TABLES[model].items():
        info = by_key[key]
        default = info.get_default(call_default_factory=True, validated_data={})
        dumped = json.loads(json.dumps(default, default=lambda v: v.value if hasattr(v, "value") else list(v)))
        assert dumped == frozen, f"{model.__name__}.{key}: default changed from {frozen!r} to {dumped!r}"
    assert StepSpec.model_fields["outputs"].default == Output()


@pytest.mark.parametrize("version", [0, SPEC_SCHEMA_VERSION + 1, None, "2", True])
def test_an_unknown_schema_version_is_refused_in_both_languages(version: Any) -> None:
    snapshot = {"schema_version": version, "bundle": {}}
    with pytest.raises(SnapshotError, match="schema_version .*无法识别"):
        migrate_snapshot(snapshot)


def test_every_schema_version_below_the_current_has_a_migration() -> None:
    assert sorted(versions.MIGRATIONS) == list(range(1, SPEC_SCHEMA_VERSION))


# --- a database published by the previous code ---------------------------------------------


def _publish_as_v1(session: Any, clock: FixedClock) -> None:
    """The rows the previous code's publish_bundles wrote for the fixture bundles."""
    for bundle_id, row in PUBLISHED_V1.items():
        session.add(BundleVersion(bundle_id=bundle_id, version=row["version"], spec_hash=row["spec_hash"],
                                  snapshot=row["snapshot"], published_at=clock.now()))
    session.commit()


def test_a_database_published_by_the_previous_code_starts_cleanly_after_upgrade(
    db: Database, v1_registry: Any, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    with db.session() as session:
        _publish_as_v1(session, clock)
        # a case the previous code accepted: it carries the schema-1 hash
        old_runtime = Runtime(registry=v1_registry, calendar=calendar, clock=clock)
        case = accept_case(session, old_runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                           answers=marriage_answers(), actor=CLERK)
        case.spec_hash = PUBLISHED_V1["marriage"]["spec_hash"]
        session.commit()
        case_id = case.id

    # the upgraded process starts: nothing new to publish, no SpecConflict
    upgraded = Runtime(registry=v1_registry, calendar=calendar, clock=clock)
    with db.session() as session:
        assert publish_bundles(session, upgraded) == []
        rows = {r.bundle_id: r for r in session.scalars(select(BundleVersion))}
        assert len(rows) == len(PUBLISHED_V1)
        for bundle_id, row in rows.items():
            assert row.spec_hash == v1_registry.get(bundle_id).spec_hash  # re-keyed to the current hash
            assert row.snapshot == PUBLISHED_V1[bundle_id]["snapshot"]  # the stored snapshot is left as it was
    # a second start is a no-op too, and the old case is driven by its (migrated) snapshot
    fresh = Runtime(registry=v1_registry, calendar=calendar, clock=clock)
    with db.session() as session:
        assert publish_bundles(session, fresh) == []
        case = session.get_one(Case, case_id)
        assert fresh.spec_for(session, case) == v1_registry.get("marriage")
        registration = next(s for s in case.steps if s.step_key == "marriage_registration")
        civil = officer(registration.department)
        claim_step(session, fresh, step_id=registration.id, actor=civil)
        complete_step(session, fresh, step_id=registration.id, actor=civil)
        session.refresh(registration)
        assert registration.state == StepState.DONE


def test_changed_content_under_a_published_v1_version_is_still_refused(
    db: Database, v1_registry: Any, calendar: WorkingCalendar, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "bundles"
    shutil.copytree(V1 / "bundles", folder)
    marriage = folder / "marriage.yaml"
    text = marriage.read_text(encoding="utf-8")
    assert "time_limit: {working_days: 15}" in text
    marriage.write_text(text.replace("time_limit: {working_days: 15}", "time_limit: {working_days: 16}", 1),
                        encoding="utf-8")
    changed = Runtime(registry=load_registry(folder, V1 / "fields.yaml"), calendar=calendar, clock=clock)
    with db.session() as session:
        _publish_as_v1(session, clock)
        with pytest.raises(SpecConflict, match="'marriage' version 1 changed since it was published.*提高版本号"):
            publish_bundles(session, changed)


def test_a_case_whose_hash_matches_no_published_snapshot_is_refused(
    db: Database, registry: Any, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = Runtime(registry=registry, calendar=calendar, clock=clock)
    with db.session() as session:
        publish_bundles(session, runtime)
        case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                           answers=marriage_answers(), actor=CLERK)
        case.spec_hash = "0" * 64
        session.commit()
        with pytest.raises(SpecConflict, match="not the spec the case was accepted under"):
            Runtime(registry=registry, calendar=calendar, clock=clock).spec_for(session, case)


# --- drafts --------------------------------------------------------------------------------


def _draft_file(tmp_path: Path, *, version: int = 2, extra_step: bool = True, after: str = "marriage_registration") -> Path:
    text = (V1 / "bundles" / "marriage.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 1", f"version: {version}", 1)
    if extra_step:
        text = text.rstrip("\n") + "\n" + (
            "  - id: certificate_check\n"
            "    item: 11-JHDJ\n"
            f"    depends_on: [{after}]\n"
            "    time_limit: {working_days: 1}\n"
        )
    path = tmp_path / "marriage_draft.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_draft_is_driven_without_being_published(
    db: Database, v1_registry: Any, calendar: WorkingCalendar, clock: FixedClock, tmp_path: Path
) -> None:
    runtime = Runtime(registry=v1_registry, calendar=calendar, clock=clock)
    draft = load_draft(_draft_file(tmp_path), v1_registry)
    assert draft.version == 2 and draft.step("certificate_check").depends_on == ("marriage_registration",)
    trying = runtime.with_draft(draft)
    assert runtime.registry.get("marriage").version == 1  # the original runtime is untouched
    with db.session() as session:
        published = publish_bundles(session, trying)
        assert "marriage" not in {s.id for s in published}  # everything else is published, the draft never
        case = accept_case(session, trying, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                           answers=marriage_answers(), actor=CLERK)
        assert case.bundle_version == 2 and "certificate_check" in {s.step_key for s in case.steps}
        registration = next(s for s in case.steps if s.step_key == "marriage_registration")
        civil = officer(registration.department)
        claim_step(session, trying, step_id=registration.id, actor=civil)
        complete_step(session, trying, step_id=registration.id, actor=civil)
        session.refresh(case)
        check = next(s for s in case.steps if s.step_key == "certificate_check")
        assert check.state == StepState.READY
        assert session.scalar(select(func.count()).select_from(BundleVersion).where(
            BundleVersion.bundle_id == "marriage")) == 0
        # a process without the draft refuses to guess the case's spec
        with pytest.raises(SpecConflict, match="never published.*草稿"):
            runtime.spec_for(session, case)


def test_a_draft_is_checked_like_a_bundle_of_the_folder(v1_registry: Any, tmp_path: Path) -> None:
    path = _draft_file(tmp_path, after="no_such_step")
    with pytest.raises(SpecError) as raised:
        load_draft(path, v1_registry)
    [problem] = [p for p in raised.value.problems if "no_such_step" in p.problem]
    assert problem.file == path and problem.step == "certificate_check" and problem.line is not None


# --- diffs and the version list ------------------------------------------------------------


def test_diff_lists_steps_added_removed_and_changed(v1_registry: Any, tmp_path: Path) -> None:
    old = v1_registry.get("marriage")
    text = _draft_file(tmp_path).read_text(encoding="utf-8")
    # remove the birth-plan step, change the household step's limit
    data = BundleSpec.model_validate(__import__("yaml").safe_load(text)).canonical()
    removed = next(s for s in data["steps"] if s["id"] not in ("marriage_registration", "certificate_check")
                   and not any(s["id"] in o.get("depends_on", []) for o in data["steps"]))
    data["steps"] = [s for s in data["steps"] if s is not removed]
    data["steps"][0]["time_limit"] = {"amount": 19, "unit": "working_days"}
    new = BundleSpec.model_validate(data)
    diff = diff_specs(old, new)
    assert diff.steps_added == ("certificate_check",)
    assert diff.steps_removed == (removed["id"],)
    assert [(c.id, c.keys) for c in diff.steps_changed] == [("marriage_registration", ("time_limit",))]
    assert diff.bundle_keys_changed == ()
    assert diff.lines()[:2] == ["marriage 1 -> 2", "+ step certificate_check"]
    assert diff_specs(old, old).empty and diff_specs(old, old).lines()[-1] == "no changes / 无变化"


def test_published_versions_and_their_diff(
    db: Database, v1_registry: Any, calendar: WorkingCalendar, clock: FixedClock, tmp_path: Path
) -> None:
    folder = tmp_path / "bundles"
    shutil.copytree(V1 / "bundles", folder)
    shutil.copy(_draft_file(tmp_path), folder / "marriage.yaml")
    v1 = Runtime(registry=v1_registry, calendar=calendar, clock=clock)
    v2 = Runtime(registry=load_registry(folder, V1 / "fields.yaml"), calendar=calendar, clock=clock)
    with db.session() as session:
        _publish_as_v1(session, clock)
        publish_bundles(session, v1)
        clock.advance(days=1)
        assert [s.id for s in publish_bundles(session, v2)] == ["marriage"]
        history = published_versions(session, "marriage")
        assert [(h.version, h.spec_hash) for h in history] == [
            (1, v1_registry.get("marriage").spec_hash), (2, v2.registry.get("marriage").spec_hash)]
        assert history[0].published_at < history[1].published_at
        diff = diff_versions(session, v2.registry, "marriage", 1, 2)
        assert diff.steps_added == ("certificate_check",) and not diff.steps_removed
        from engine.errors import NotFound

        with pytest.raises(NotFound, match="no version 3"):
            diff_versions(session, v2.registry, "marriage", 1, 3)
