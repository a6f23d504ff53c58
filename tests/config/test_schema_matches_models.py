"""The config's shape is written twice (JSON Schema for validate and editors, pydantic for
typed access): the two must name the same keys, nest the same way, and agree on which keys
are required."""

import json
import types
import typing
from importlib import resources

from pydantic import BaseModel

from phoenix_remote.config.models import HypervisorConfig

SCHEMA = json.loads(resources.files("phoenix_remote.data").joinpath(
    "hypervisor_config.schema.json").read_text())


def resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def model_of(annotation) -> type[BaseModel] | None:
    """The model a field holds directly (not inside a dict or tuple), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        models = [a for a in typing.get_args(annotation) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        return models[0] if models else None
    return None


def compare(model: type[BaseModel], schema: dict, path: str, problems: list[str]) -> None:
    schema = resolve(schema)
    props = schema.get("properties", {})
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key in sorted(set(props) ^ set(fields)):
        where = "schema only" if key in props else "model only"
        problems.append(f"{path}.{key}: {where}")
    required = set(schema.get("required", []))
    for key, field in fields.items():
        if key not in props:
            continue
        if field.is_required() != (key in required):
            problems.append(f"{path}.{key}: required in the "
                            f"{'model' if field.is_required() else 'schema'} only")
        sub = model_of(field.annotation)
        if sub is not None:
            compare(sub, props[key], f"{path}.{key}", problems)
        item = resolve(props[key]).get("items")
        args = typing.get_args(field.annotation)
        if item and args and model_of(args[0]):
            compare(model_of(args[0]), item, f"{path}.{key}[]", problems)


def test_schema_and_models_agree():
    problems: list[str] = []
    compare(HypervisorConfig, SCHEMA, "$", problems)
    assert problems == []


def test_the_comparison_sees_a_difference():
    class Tiny(BaseModel):
        a: int
        b: int = 0
    problems: list[str] = []
    compare(Tiny, {"properties": {"a": {}, "c": {}}, "required": ["a", "c"]}, "$", problems)
    assert problems == ["$.b: model only", "$.c: schema only"]
