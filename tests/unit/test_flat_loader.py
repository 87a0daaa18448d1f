"""FlatLoader (the scan's fast path) loads what its schema loads, and refuses with the schema's
own errors."""
from __future__ import annotations

import marshmallow as ma
import pytest

from blueprints.schemas import FlatLoader, HealthCodeQuerySchema, ScanRequestSchema

GOOD = [{"qr": "HC1:abc"}, {"qr": "x", "place_id": "gate 1"}, {"qr": "x" * 2048, "place_id": "３号楼"},
        {"place_id": "东门", "qr": "x"}]
BAD = [{}, {"qr": ""}, {"qr": "x" * 2049}, {"qr": None}, {"qr": 5}, {"qr": "x", "place_id": "  "},
       {"qr": "x", "place_id": None}, {"qr": "x", "other": 1}, [], "qr", None, {"qr": "x", "place_id": "a\u202eb"}]


def errors(load, data):
    with pytest.raises(ma.ValidationError) as caught:
        load(data)
    return caught.value.messages


@pytest.mark.parametrize("data", GOOD)
def test_it_loads_what_the_schema_loads(data):
    schema = ScanRequestSchema()
    assert FlatLoader(schema).load(data) == schema.load(data)


@pytest.mark.parametrize("data", BAD)
def test_it_refuses_with_the_schemas_errors(data):
    schema = ScanRequestSchema()
    assert errors(FlatLoader(schema).load, data) == errors(schema.load, data)


def test_a_schema_with_hooks_or_defaults_is_left_to_marshmallow():
    class Hooked(ScanRequestSchema):
        @ma.pre_load
        def upper(self, data, **kwargs):
            return {**data, "qr": data["qr"].upper()}

    assert FlatLoader(Hooked())._fields is None and FlatLoader(Hooked()).load({"qr": "abc"}) == {"qr": "ABC"}
    assert FlatLoader(HealthCodeQuerySchema())._fields is None or HealthCodeQuerySchema().load({}) == \
        FlatLoader(HealthCodeQuerySchema()).load({})
