"""``GET /bundles/{id}/versions``: the published versions of a bundle, each with the steps added,
removed and changed since the previous one. Public, like the rest of the catalogue."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec
from tests.api.conftest import Api, problem


def _next_version(spec: BundleSpec) -> BundleSpec:
    data = spec.canonical()
    data["version"] = spec.version + 1
    data["steps"] = [*data["steps"][:-1], {"id": "certificate_check", "item": "11-JHDJ",
                                            "depends_on": [data["steps"][0]["id"]],
                                            "time_limit": {"amount": 1, "unit": "working_days"}}]
    data["steps"][0]["time_limit"] = {"amount": 19, "unit": "working_days"}
    return BundleSpec.model_validate(data)


def test_versions_of_a_bundle_published_once(api: Api) -> None:
    response = api.get("/bundles/marriage/versions", None)
    assert response.status_code == 200
    body = response.json()
    spec = api.runtime.registry.get("marriage")
    assert body["bundle_id"] == "marriage" and body["current_version"] == spec.version
    [only] = body["versions"]
    assert only["version"] == spec.version and only["spec_hash"] == spec.spec_hash and only["current"] is True
    assert only["published_at"] and only["changes"] is None


def test_versions_list_the_changes_since_the_previous_version(api: Api) -> None:
    old = api.runtime.registry.get("marriage")
    new = _next_version(old)
    registry: BundleRegistry = api.runtime.registry
    bumped = Runtime(registry=BundleRegistry(catalog=registry.catalog, fields=registry.fields,
                                             bundles={**registry.bundles, "marriage": new}),
                     calendar=api.runtime.calendar, clock=api.runtime.clock)
    session: Session
    with api.session() as session:
        assert [s.id for s in publish_bundles(session, bumped)] == ["marriage"]
    body = api.get("/bundles/marriage/versions", None).json()
    assert [v["version"] for v in body["versions"]] == [old.version, old.version + 1]
    assert [v["current"] for v in body["versions"]] == [True, False]  # this process still serves the old version
    changes = body["versions"][1]["changes"]
    removed = old.steps[-1].id
    assert changes == {
        "from_version": old.version, "to_version": old.version + 1, "steps_added": ["certificate_check"], "steps_removed": [removed],
        "steps_changed": [{"id": old.steps[0].id, "keys": ["time_limit"]}], "bundle_keys_changed": [],
    }


def test_versions_of_an_unknown_bundle_are_404(api: Api) -> None:
    assert problem(api.get("/bundles/no_such_bundle/versions", None), 404)["field"] == "bundle_id"
    assert problem(api.get("/bundles/Not-An-Id/versions", None), 422)["field"] == "bundle_id"
