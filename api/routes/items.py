"""Public item catalogue: every service item's standard elements (事项要素) in the national shape."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import RuntimeDep
from engine.interprovince.items import national_items

router = APIRouter(tags=["items"])


class NationalItemOut(BaseModel):
    """One service item under the national platform's field names (engine.interprovince.items)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "catalog_code": None, "local_catalog_code": "11-JHDJ", "task_name": "内地居民结婚登记", "task_type": "07",
        "by_law": "《中华人民共和国民法典》第一千零四十九条；《婚姻登记条例》第四条至第七条", "use_level": "4",
        "dept_name": "民政局", "result_name": "结婚证"}]})

    catalog_code: Annotated[str | None, Field(description="基本编码: the national directory's code; null while the item is "
                                                          "not linked to it")]
    local_catalog_code: Annotated[str, Field(description="地方基本编码: the item's code in this deployment's catalog")]
    task_name: Annotated[str, Field(description="事项名称")]
    task_type: Annotated[str, Field(description="事项类型: 01 行政许可, 05 行政给付, 07 行政确认, 10 其他行政权力, 20 公共服务",
                                    pattern=r"^\d{2}$")]
    by_law: Annotated[str, Field(description="设定依据")]
    use_level: Annotated[str, Field(description="行使层级 of the deciding level: 2 省级, 3 市级, 4 县级, 5 镇（乡、街道）级, "
                                                "6 村（社区）级", pattern=r"^[1-6]$")]
    dept_name: Annotated[str, Field(description="实施主体: the deciding department")]
    result_name: Annotated[str, Field(description="审批结果名称: the licence or document issued (empty: none)")]


@router.get("/items", response_model=list[NationalItemOut], summary="Service items in the national shape (事项要素)")
def list_items(runtime: RuntimeDep) -> list[NationalItemOut]:
    """Every service item of the catalog with its standard elements, under the field names of the
    national platform's item directory (国家政务服务平台 事项目录; GB/T 39554.1-2020), in catalog order:
    what another province's system reads to accept an item it does not decide (跨省通办). Public."""
    return [NationalItemOut(**asdict(item)) for item in national_items(runtime.registry.catalog)]
