"""我的证照 and 消息 (issue 13.4–13.5): the holder lists their own e-licences and shows one in force as
a QR code whose page verifies it; every reader's notices about all their cases in one inbox (an
officer's office's notices included); nobody sees anyone else's."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.db.models import Licence
from engine.notify.queue import queue_officer_reminder
from tests.api.conftest import Api
from tests.api.test_pages import get, post
from tests.engine.machine.test_handover import work_off
from tests.engine.sample_people import GROOM


def test_the_holder_shows_a_licence_and_the_code_verifies(api: Api) -> None:
    with api.session() as session:
        work_off(session, api.runtime, api.case())
        certificate = session.scalars(select(Licence).where(Licence.holder_id == GROOM,
                                                            Licence.type_code == "L2000025")).one()
    page = get(api, "/ui/licences", "applicant_own")
    assert page.status_code == 200 and certificate.number in page.text and "亮证" in page.text
    assert certificate.number not in get(api, "/ui/licences", "applicant_other").text
    assert get(api, "/ui/licences", "officer").status_code == 403
    shown = post(api, f"/ui/licences/{certificate.id}/show", "applicant_own", {})
    assert shown.status_code == 200 and "<svg" in shown.text
    url = re.search(r"/ui/verify/licence/[A-Za-z0-9_.-]+", shown.text)
    assert url
    checked = api.client.get(url[0])  # the checker has no login
    assert checked.status_code == 200 and 'data-status="valid"' in checked.text and GROOM not in checked.text
    assert post(api, f"/ui/licences/{certificate.id}/show", "applicant_other", {}).status_code == 404


def test_the_inbox_lists_the_readers_notices_of_every_case(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    with api.session() as session:
        row = session.get(type(case), case.id)
        assert row is not None
        queue_officer_reminder(session, api.runtime.channels, case=row, step=session.merge(step),
                               officer=str(step.office), at=api.clock.now(), step_name="结婚登记")
        session.commit()
    own = get(api, "/ui/inbox", "applicant_own").text
    assert case.receipt_no in own and "受理" in own
    officer = get(api, "/ui/inbox", "officer").text  # the office's reminder, to each of its officers
    assert "办理提醒" in officer and f'href="/ui/cases/{case.id}#notices"' in officer
    assert "办理提醒" not in get(api, "/ui/inbox", "officer_other").text
    assert case.receipt_no not in get(api, "/ui/inbox", "applicant_other").text
