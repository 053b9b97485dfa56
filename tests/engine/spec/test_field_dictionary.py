"""What the field dictionary says about names: which item field names a list entry, which field
is the applicant's name — data, so no bundle knowledge hides in Python."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.spec.loader import BundleRegistry
from engine.spec.models import FieldSpec, FieldType, Names


def test_list_entries_are_named_by_their_declared_item_field(registry: BundleRegistry) -> None:
    assert registry.fields["heirs"].entry_label == "heir_name"
    assert registry.fields["new_employees"].entry_label == "employee_name"
    assert {f.id for f in registry.fields.values() if f.names_applicant} == {"applicant_name", "company_name"}


def test_an_entry_label_must_be_one_of_the_item_fields() -> None:
    with pytest.raises(ValidationError, match="entry_label 'nickname' is not one of its item_fields"):
        FieldSpec(id="heirs", label=Names(zh="继承人", en="Heirs"), type=FieldType.LIST,
                  item_fields=("heir_name",), entry_label="nickname")
