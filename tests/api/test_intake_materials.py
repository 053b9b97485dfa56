"""The intake page's material lists (GET /ui/intake/{bundle} once the applicant is identified):
a material of the whole bundle is listed once with the whole-bundle label (it has no step to be
named by), and a step's material names the item the answers chose, not the first one mapped.
Every backend."""

from __future__ import annotations

import re

from api.demo import load_demo_data
from engine.records.labels import LABELS
from tests.api.conftest import Api
from tests.api.test_bundle_materials import draft_api  # noqa: F401  (the marriage draft with bundle materials)
from tests.api.test_pages import get
from tests.engine.records.test_material_display import BRIDE_PROOF, COUNTY, ID_CARD, PROVINCE, RESUME
from tests.engine.sample_people import BRIDE, GROOM


def material_rows(html: str, table: str) -> dict[str, str]:
    """The rows of the intake page's ``waived`` or ``to-supply`` table: material name -> what needs it."""
    start = html.index(f'<div id="{table}">')
    body = html[start:html.index("</table>", start)]
    rows = re.findall(r"<tr><td>([^<]+)(?:<span class=\"badge\">选填<span[^>]*>[^<]*</span></span>)?<span class=\"sub\">"
                      r"用于<span class=\"en\" lang=\"en\"> for</span>：([^<]*)</span>", body)
    return {name.strip(): items for name, items in rows}


def test_the_bundles_own_materials_are_listed_for_the_whole_bundle(draft_api: Api) -> None:  # noqa: F811
    page = get(draft_api, f"/ui/intake/marriage?applicant_id={GROOM}&a.groom_id_number={GROOM}"
                          f"&a.bride_id_number={BRIDE}", "clerk")
    assert page.status_code == 200, page.text
    waived, to_supply = material_rows(page.text, "waived"), material_rows(page.text, "to-supply")
    assert waived[ID_CARD] == LABELS.whole_bundle  # the groom's ID card is in the licence store
    assert waived[RESUME] == LABELS.whole_bundle  # supply mode 5: already in the applicant's 个人中心
    assert BRIDE_PROOF in waived  # the bride's ID card, an alternative, is in the store too (a clerk's view)
    assert waived[BRIDE_PROOF] == "内地居民结婚登记"
    assert ID_CARD not in to_supply and RESUME not in to_supply  # each once
    assert to_supply["3张2寸男女双方近期半身免冠合影照片"] == "内地居民结婚登记"


def test_a_step_material_names_the_item_the_answers_chose(api: Api) -> None:
    scenario = load_demo_data().scenarios["land_use"]
    applicant = scenario["applicant"]["id"]
    base = f"/ui/intake/land_use?applicant_id={applicant}&a.needs_new_land=true&a.investment_procedure=ratification"
    county = get(api, f"{base}&a.land_approval_level=county", "clerk")
    assert county.status_code == 200, county.text
    rows = material_rows(county.text, "to-supply")
    assert rows["建设项目用地预审与选址申请表"] == COUNTY
    assert PROVINCE not in county.text.split('<div id="waived">', 1)[1]
    # with no answer yet the first mapped item stands for the step, as on the bundle listing
    unanswered = material_rows(get(api, base, "clerk").text, "to-supply")
    assert unanswered["建设项目用地预审与选址申请表"] == PROVINCE
