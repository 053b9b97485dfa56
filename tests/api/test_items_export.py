"""Service items in the national shape (事项要素): ``onevisit items export`` and GET /items.

The expectations are read from ``bundles/catalog/items.yaml`` and ``departments.yaml`` directly
(not through the engine's catalog), and the code tables are written out by hand: 事项类型 01
行政许可, 05 行政给付, 07 行政确认, 10 其他行政权力, 20 公共服务; 行使层级 2 省级 … 6 村级.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import main
from tests.api.conftest import Api

CATALOG = Path(__file__).resolve().parents[2] / "bundles" / "catalog"
FIELDS = ["catalog_code", "local_catalog_code", "task_name", "task_type", "by_law", "use_level", "dept_name",
          "result_name"]
TYPE_CODES = {"行政许可": "01", "行政给付": "05", "行政确认": "07", "其他行政权力": "10", "公共服务": "20"}
LEVEL_CODES = {"province": "2", "city": "3", "county": "4", "township": "5", "village": "6"}


def catalog_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = yaml.safe_load((CATALOG / "items.yaml").read_text(encoding="utf-8"))
    return items


def expected_rows() -> list[dict[str, Any]]:
    departments = {d["code"]: d for d in yaml.safe_load((CATALOG / "departments.yaml").read_text(encoding="utf-8"))}
    rows = []
    for item in catalog_items():
        department = departments[item["department"]]
        level = item.get("decided_at") or department.get("level", "county")
        rows.append({
            "catalog_code": None, "local_catalog_code": item["code"], "task_name": item["name"],
            "task_type": TYPE_CODES[item["type"]], "by_law": item["legal_basis"], "use_level": LEVEL_CODES[level],
            "dept_name": department["name"]["zh"], "result_name": item.get("result", ""),
        })
    return rows


def export(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["items", "export", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_the_catalog_has_items_of_every_exported_type() -> None:
    assert len(catalog_items()) > 50
    assert {item["type"] for item in catalog_items()} <= set(TYPE_CODES)


def test_json_export_has_the_national_shape_and_every_item(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(export(capsys))
    assert all(list(row) == FIELDS for row in rows)
    assert rows == expected_rows()
    assert [row["local_catalog_code"] for row in rows] == [item["code"] for item in catalog_items()]


def test_json_is_the_default_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert export(capsys) == export(capsys, "--format", "json")


def test_csv_export_has_a_header_of_national_names_and_a_row_per_item(capsys: pytest.CaptureFixture[str]) -> None:
    reader = csv.DictReader(io.StringIO(export(capsys, "--format", "csv")))
    assert reader.fieldnames == FIELDS
    rows = list(reader)
    expected = [{name: "" if value is None else value for name, value in row.items()} for row in expected_rows()]
    assert rows == expected


def test_each_level_of_the_land_use_pre_examination_exports_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    """用地预审 has an item per deciding level (省级, 设区的市级, 县级权限): 行使层级 2, 3 and 4."""
    rows = {row["local_catalog_code"]: row for row in json.loads(export(capsys))}
    assert [rows[code]["use_level"] for code in ("15-YDYSSJ", "15-YDYSSQ", "15-YDYSXJ")] == ["2", "3", "4"]


def test_export_from_a_folder_without_a_catalog_fails_in_one_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["items", "export", "--dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "catalog" in err and "Traceback" not in err


def test_get_items_is_public_and_answers_the_same_rows(api: Api) -> None:
    response = api.get("/items", None)
    assert response.status_code == 200, response.text
    assert response.json() == expected_rows()


def test_get_items_is_documented(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/items"]["get"]
    assert set(operation["responses"]) == {"200", "503"} and not operation.get("security")  # 503: a full server
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["NationalItemOut"]
    assert list(schema["properties"]) == FIELDS
