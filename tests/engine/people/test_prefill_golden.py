"""Golden prefill results per bundle: which fields come from where, which materials are waived.

The demo's seeded licences and scenarios are the input; `tests/fixtures/golden/prefill.json`
is the expected output. After an intended change, regenerate it with
``ONEVISIT_UPDATE_GOLDEN=1 python -m pytest tests/engine/people/test_prefill_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from api.demo import load_demo_data, seed_licences
from engine.people.prefill import PrefillContext, prefill
from engine.runtime import Runtime

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "prefill.json"




def test_prefill_sources_and_waived_materials_per_bundle(session: Session, runtime: Runtime) -> None:
    data = load_demo_data()
    seed_licences(session, runtime, data, report=lambda _: None)
    actual: dict[str, Any] = {}
    for bundle_id, scenario in sorted(data.scenarios.items()):
        spec = runtime.current_spec(bundle_id)
        context = PrefillContext(spec, runtime.registry, scenario["applicant"]["id"], scenario["answers"], runtime.today())
        result = prefill(session, context)
        actual[bundle_id] = {
            "prefilled": {name: {"value": found.value, "source": found.source} for name, found in sorted(result.values.items())},
            "waived": sorted(f"{m.step}: {m.name}" for m in result.waived),
            "to_supply": sorted(f"{m.step}: {m.name}" for m in result.to_supply),
        }
    assert set(actual) == set(runtime.registry.bundles)
    if os.environ.get("ONEVISIT_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(actual, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert actual == json.loads(GOLDEN.read_text(encoding="utf-8"))
