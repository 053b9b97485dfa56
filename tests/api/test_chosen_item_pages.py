"""Pages name a step by the item its case's answers chose (``StepSpec.chosen_item``): the
supervision desk's cards, and the step row intake stores; the step page lists a material's
alternatives and how each is supplied, as the case page does. Every backend."""

from __future__ import annotations

import re

from engine.records.labels import SUPPLY_MODE_LABELS
from engine.spec.models import SupplyMode
from engine.time.supervision import issue_cards
from tests.api.conftest import Api
from tests.api.test_bundle_materials import draft_api  # noqa: F401  (the marriage draft with an alternative)
from tests.api.test_pages import get
from tests.engine.records.test_documents import text
from tests.engine.records.test_material_display import BRIDE_PROOF, COUNTY, PROVINCE, land_use_case


def test_the_supervision_cards_name_the_item_the_case_chose(api: Api) -> None:
    with api.session() as session:
        case = land_use_case(session, api.runtime, land_approval_level="county")
        preapproval = next(s for s in case.steps if s.step_key == "land_preapproval")
        assert preapproval.item_code == "15-YDYSXJ"  # intake stored the chosen item
    api.clock.advance(days=60)
    with api.session() as session:
        assert issue_cards(session, api.runtime)
    page = get(api, "/ui/supervision", "supervisor").text
    card = re.search(rf'<a href="/ui/steps/{preapproval.id}">([^<]+)</a>', page)
    assert card and card[1] == COUNTY
    assert PROVINCE not in page


def test_the_step_page_lists_alternatives_and_supply_modes(draft_api: Api) -> None:  # noqa: F811
    case = draft_api.case()
    registration = draft_api.step(case.id)
    page = get(draft_api, f"/ui/steps/{registration.id}", "officer")
    assert page.status_code == 200, page.text
    rows = dict(re.findall(r'<tr data-material="([^"]+)">(.*?)</tr>', page.text, flags=re.S))
    row = text(rows[BRIDE_PROOF])
    assert "任选其一：女方居民身份证 或 女方户口注销证明" in row
    e_licence, applicant = SUPPLY_MODE_LABELS[SupplyMode.E_LICENCE], SUPPLY_MODE_LABELS[SupplyMode.APPLICANT]
    assert f"女方居民身份证：{e_licence} 或 女方户口注销证明：{applicant}" in row
    assert all(text(html).strip() for html in rows.values())
    assert "提交方式" in page.text
