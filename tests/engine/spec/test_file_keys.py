"""The hand-in keys of materials (issue 12): ``files`` (types, size, count; on a material or the
bundle), ``deferrable`` with ``defer_max_days`` (容缺受理) and ``retention``; refused with file:line.

Same conventions as test_loader.py (whose helpers these tests use).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.loader import load_registry
from engine.spec.models import DEFAULT_DEFER_MAX_DAYS, FileRule
from tests.engine.spec.test_loader import bundle, expect_problem, load, write

STEP = """\
- id: first
  item: 11-JHDJ
  time_limit: {working_days: 5}
  materials:
    - {name: 申请表, supply: 1}
    - name: 病历资料
      supply: 4
      files: {types: [pdf, jpeg], max_mb: 2.5, max_files: 3}
      deferrable: true
      defer_max_days: 5
      retention: medical
    - {name: 照片, supply: 4}
"""

BUNDLE_RULE = "files: {types: [pdf], max_files: 2}\n"


def with_rule(text: str, rule: str = BUNDLE_RULE) -> str:
    return text.replace("steps:\n", rule + "steps:\n", 1)


def test_the_keys_load(bundles: Path) -> None:
    write(bundles, "sample.yaml", with_rule(bundle(STEP)))
    spec = load(bundles).get("sample")
    records = spec.material("病历资料")
    assert records is not None
    assert records.files == FileRule(types=("pdf", "jpeg"), max_mb=2.5, max_files=3)
    assert (records.deferrable, records.defer_limit, records.retention) == (True, 5, "medical")
    photo = spec.material("照片")
    assert photo is not None and photo.files is None and not photo.deferrable and photo.retention == "default"
    assert spec.files == FileRule(types=("pdf",), max_files=2)
    assert [s.id for s in spec.steps_needing("病历资料")] == ["first"]


def test_defer_max_days_defaults_to_ten_working_days(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle(STEP.replace("      defer_max_days: 5\n", "")))
    material = load(bundles).get("sample").material("病历资料")
    assert material is not None and material.defer_limit == DEFAULT_DEFER_MAX_DAYS == 10


def test_an_unknown_file_type_on_a_material_names_its_line(bundles: Path) -> None:
    text = bundle(STEP.replace("types: [pdf, jpeg]", "types: [pdf, docx]"))
    problem = expect_problem(bundles, text, "unknown file type 'docx'", "types: [pdf, docx]", "first")
    assert "未知文件类型" in problem.problem and "pdf, jpeg, png, ofd" in problem.problem


def test_an_unknown_file_type_on_the_bundle_names_its_line(bundles: Path) -> None:
    text = with_rule(bundle(STEP), "files: {types: [tiff]}\n")
    expect_problem(bundles, text, "unknown file type 'tiff'", "files: {types: [tiff]}", None)


@pytest.mark.parametrize(("given", "fragment"), [
    ("max_mb: 0", "max_mb"), ("max_files: 0", "max_files"), ("types: []", "types"), ("pages: 3", "pages"),
])
def test_a_bad_file_rule_is_refused(bundles: Path, given: str, fragment: str) -> None:
    text = bundle(STEP.replace("max_files: 3", given))
    expect_problem(bundles, text, fragment, "files: {", "first")


def test_defer_max_days_without_deferrable_is_refused(bundles: Path) -> None:
    text = bundle(STEP.replace("      deferrable: true\n", ""))
    problem = expect_problem(bundles, text, "defer_max_days needs deferrable", "- name: 病历资料", "first")
    assert "须配合 deferrable" in problem.problem


def test_a_material_never_handed_in_cannot_be_deferred(bundles: Path) -> None:
    text = bundle(STEP.replace("{name: 申请表, supply: 1}", "{name: 申请表, supply: 1, deferrable: true}"))
    problem = expect_problem(bundles, text, "deferrable (容缺) needs a material that is handed in",
                             "{name: 申请表, supply: 1, deferrable: true}", "first")
    assert "不能容缺" in problem.problem


def test_an_alternative_takes_its_material_s_rule(bundles: Path) -> None:
    alternatives = STEP + """\
    - name: 身份证明
      supply: 4
      any_of:
        - {name: 居民身份证, supply: 2, licence: L2000016}
        - {name: 户口注销证明, supply: 4, files: {types: [pdf]}}
"""
    expect_problem(bundles, bundle(alternatives), "alternative '户口注销证明' cannot set files",
                   "{name: 户口注销证明", "first")


def test_a_bad_retention_kind_is_refused(bundles: Path) -> None:
    expect_problem(bundles, bundle(STEP.replace("retention: medical", "retention: Medical Records")),
                   "retention", "retention: Medical", "first")


def test_a_shipped_bundle_has_a_deferrable_material() -> None:
    deferrable = [(b.id, m.name) for b in load_registry() for m in b.all_materials() if m.deferrable]
    assert ("newborn", "出生医学证明签发知情告知书") in deferrable


def test_the_new_keys_left_at_their_defaults_leave_the_hash_alone(bundles: Path) -> None:
    bare = STEP.replace("""\
      files: {types: [pdf, jpeg], max_mb: 2.5, max_files: 3}
      deferrable: true
      defer_max_days: 5
      retention: medical
""", "")
    write(bundles, "sample.yaml", bundle(bare))
    plain = load(bundles).get("sample")
    write(bundles, "sample.yaml", bundle(bare.replace("    - {name: 照片, supply: 4}",
                                                      "    - {name: 照片, supply: 4, deferrable: false, "
                                                      "retention: default}")))
    spelled_out = load(bundles).get("sample")
    # a bundle written before these keys existed keeps its hash, and so its published version
    assert spelled_out.spec_hash == plain.spec_hash
    assert "deferrable" not in str(plain.canonical()) and "retention" not in str(plain.canonical())
