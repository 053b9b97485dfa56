"""The receipt (受理回执) lists what intake received (issue 12): each material handed in with its
file count and pages, paper originals seen at the window, deferred ones (容缺) with the promised
date, and the waived ones with the reason; on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from engine.documents.files import MaterialHandIn, receipt_materials, stage_files
from engine.documents.inspection import Upload
from engine.machine.intake import Applicant, accept_case
from engine.records.documents import ReceivedMaterial, render_receipt
from engine.runtime import Runtime
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.machine.test_eligibility import MOTHER, newborn_answers
from tests.engine.records.test_documents import section
from tests.engine.sample_people import CLERK

RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
NOTICE = "出生医学证明签发知情告知书"
FORM = "新生儿出生一件事申请表"


def test_the_receipt_lists_files_pages_paper_deferred_and_waived(session: Session, runtime: Runtime) -> None:
    views = stage_files(session, runtime, actor=CLERK, bundle_id="newborn", material=RECORD,
                        uploads=[Upload("a.pdf", pdf(3)), Upload("b.png", image("PNG"))])
    case = accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person", "测试乙"),
                       answers=newborn_answers(), actor=CLERK, region="430102", materials={
                           RECORD: MaterialHandIn(files=tuple(v.id for v in views), check="accepted"),
                           CERTIFICATE: MaterialHandIn(paper=True, check="accepted"),
                           NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 9))})
    received = {m.name: m for m in receipt_materials(session, runtime, case=case, viewer=CLERK)}
    assert received[RECORD] == ReceivedMaterial(name=RECORD, files=2, pages=4)
    assert received[CERTIFICATE] == ReceivedMaterial(name=CERTIFICATE, paper=True)
    assert received[NOTICE] == ReceivedMaterial(name=NOTICE, deferred_until=date(2026, 3, 9))
    assert received[FORM].waived and received[FORM].reason
    assert not received["个人照片"].required and received["个人照片"].files == 0

    html = render_receipt(case, runtime.spec_for(session, case), runtime.registry,
                          received=list(received.values()))
    listed = section(html, "收件清单", "免提交理由")
    assert f"{RECORD} 电子文件 2 个文件，共 4 页" in listed
    assert f"{CERTIFICATE} 纸质原件（窗口核验）" in listed
    assert f"{NOTICE} 容缺受理：承诺于 2026年3月9日 前补交" in listed
    assert "个人照片 未提交（非必需）" in listed
    waived = section(html, "免提交理由", "五、温馨提示")
    assert FORM in waived and received[FORM].reason.split(" ")[0] in waived


def test_a_case_accepted_without_hand_ins_lists_only_the_waived(session: Session, runtime: Runtime) -> None:
    case = accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person", "测试乙"),
                       answers=newborn_answers(), actor=CLERK, region="430102")
    received = receipt_materials(session, runtime, case=case, viewer=CLERK)
    assert received and all(m.waived for m in received)
    html = render_receipt(case, runtime.spec_for(session, case), runtime.registry)
    assert "收件清单" not in html  # nothing given: the receipt is as before
