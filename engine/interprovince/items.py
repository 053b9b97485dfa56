"""Service items (事项) in the national shape: the standard elements (事项要素) every province keeps
the same so another province's window can accept an item it does not decide (跨省通办).

国办发〔2020〕35号 asks that an item's name, code, basis and type (事项名称、编码、依据、类型) be the same
in every region; GB/T 39554.1-2020 (全国一体化政务服务平台 政务服务事项基本目录及实施清单 第1部分：编码要求)
codes them. The field names and code values below are those of the national platform's item
exchange tables (国家政务服务平台 政务服务事项 上报/下发: ``up_task_general_basic`` and
``up_task_general_extend``; as published, e.g., in the public repository JluKobe/MyRepo,
``TableConstruct/up_task_general_basic.sql`` and ``up_task_general_extend.sql``):

===================== ======================= =========================================================
field                 element                 here
===================== ======================= =========================================================
``catalog_code``      基本编码 (12 characters)  null: our items are not yet linked to the national directory
``local_catalog_code`` 地方基本编码              the catalog's code (``11-JHDJ``)
``task_name``         事项名称                  the item's name
``task_type``         事项类型 (code)           01 行政许可 … 05 行政给付, 07 行政确认, 10 其他行政权力, 20 公共服务
``by_law``            设定依据                  the item's legal basis
``use_level``         行使层级 (code)           2 省级, 3 市级, 4 县级, 5 镇（乡、街道）级, 6 村（社区）级
``dept_name``         实施主体                  the deciding department's name (the department type:
                                              its offices' own names are in the office directory)
``result_name``       审批结果名称              the item's result (a licence or document; "" if none)
===================== ======================= =========================================================

``dept_code`` (实施主体编码) is the implementing body's 统一社会信用代码, which the catalog does not
hold: it is left out rather than filled with the department type's two-digit code.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType

from engine.people.regions import Level
from engine.spec.models import Catalog, ItemType

__all__ = ["NATIONAL_FIELDS", "TASK_TYPE_CODES", "USE_LEVEL_CODES", "NationalItem", "national_items",
           "items_csv", "items_json"]

TASK_TYPE_CODES: Mapping[ItemType, str] = MappingProxyType({
    ItemType.LICENSING: "01",
    ItemType.PAYMENT: "05",
    ItemType.CONFIRMATION: "07",
    ItemType.OTHER: "10",
    ItemType.PUBLIC_SERVICE: "20",
})
"""事项类型 codes of the national directory (01 行政许可, 02 行政处罚, 03 行政强制, 04 行政征收, 05 行政给付,
06 行政检查, 07 行政确认, 08 行政奖励, 09 行政裁决, 10 其他行政权力, 20 公共服务) for the types our catalog uses."""

USE_LEVEL_CODES: Mapping[Level, str] = MappingProxyType({
    Level.PROVINCE: "2",
    Level.CITY: "3",
    Level.COUNTY: "4",
    Level.TOWNSHIP: "5",
    Level.VILLAGE: "6",
})
"""行使层级 codes (1 国家级, 2 省级, 3 市级, 4 县级, 5 镇（乡、街道）级, 6 村（社区）级)."""


@dataclass(frozen=True, slots=True)
class NationalItem:
    """One service item under the national field names (see the module's table)."""

    catalog_code: str | None
    local_catalog_code: str
    task_name: str
    task_type: str
    by_law: str
    use_level: str
    dept_name: str
    result_name: str


NATIONAL_FIELDS: tuple[str, ...] = tuple(NationalItem.__dataclass_fields__)
"""The exported fields, in export order (the CSV header)."""


def national_items(catalog: Catalog) -> list[NationalItem]:
    """Every item of ``catalog``, in catalog order, under the national field names."""
    out: list[NationalItem] = []
    for code, item in catalog.items.items():
        department = catalog.departments.get(item.department)
        out.append(NationalItem(
            catalog_code=None, local_catalog_code=code, task_name=item.name, task_type=TASK_TYPE_CODES[item.type],
            by_law=item.legal_basis, use_level=USE_LEVEL_CODES[catalog.decided_at(code)],
            dept_name=department.name.zh if department is not None else item.department, result_name=item.result,
        ))
    return out


def items_json(items: Sequence[NationalItem]) -> str:
    """The items as a JSON array (UTF-8 text, Chinese unescaped)."""
    return json.dumps([asdict(item) for item in items], ensure_ascii=False, indent=2)


def items_csv(items: Sequence[NationalItem]) -> str:
    """The items as CSV with a header row of the national field names (an absent value is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(NATIONAL_FIELDS)
    for item in items:
        writer.writerow(["" if value is None else value for value in asdict(item).values()])
    return buffer.getvalue()
