"""The typed dicts of `buildnet._types` against the schema they are generated from.

scripts/gen-types.py writes `_types.py` from schema/buildnet.schema.json (and `--check`, in
scripts/test.sh, keeps it current). These tests read the schema themselves and check what the
installed package carries: every record's keys and value types, every event variant, every
Literal's strings, the package's exports, and (with mypy, which scripts/test-python.sh installs)
that a type checker refuses a key a record does not have.
"""

import json
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, get_args, get_type_hints

import pytest

import buildnet
from buildnet import _types

from conftest import repo_root


def schema_defs() -> Dict[str, Any]:
    path = repo_root() / "schema" / "buildnet.schema.json"
    if not path.is_file():
        pytest.skip(f"no {path}: not a source tree")
    defs: Dict[str, Any] = json.loads(path.read_text())["$defs"]
    return defs


def literal(*values: str) -> Any:
    """`Literal[values...]`, made at run time."""
    return Literal.__getitem__(values)


def expected_type(node: Dict[str, Any]) -> Any:
    """The Python type a schema node stands for, as `_types` should spell it."""
    if "$ref" in node:
        return getattr(_types, node["$ref"].rsplit("/", 1)[1])
    if "const" in node:
        return literal(node["const"])
    if "anyOf" in node:
        (inner,) = [o for o in node["anyOf"] if o.get("type") != "null"]
        return Optional[expected_type(inner)]
    kind = node["type"]
    if isinstance(kind, list):
        (inner_kind,) = [k for k in kind if k != "null"]
        return Optional[expected_type({**node, "type": inner_kind})]
    if kind == "array":
        return List[expected_type(node["items"])]  # type: ignore[misc]
    if kind == "object":
        return Dict[str, expected_type(node["additionalProperties"])]  # type: ignore[misc]
    return {"string": str, "integer": int, "number": float, "boolean": bool}[kind]


def assert_record(cls: Any, node: Dict[str, Any], extra: Optional[Dict[str, Any]] = None) -> None:
    props: Dict[str, Any] = {**(extra or {}), **node["properties"]}
    name = cls.__name__
    # Every key the schema has, all required (as the schema says), and no other.
    assert set(cls.__required_keys__) == set(props), name
    assert not cls.__optional_keys__, name
    assert set(node["required"]) == set(node["properties"]), name
    hints = get_type_hints(cls)
    for key, prop in props.items():
        assert hints[key] == expected_type(prop), f"{name}.{key}"


@pytest.mark.parametrize("name", ["BuildRecord", "TargetRun", "Status", "WorkerRecord", "Lock"])
def test_the_main_records_have_the_schemas_keys_and_types(name: str) -> None:
    assert_record(getattr(_types, name), schema_defs()[name])


def test_every_record_of_the_schema_is_a_typeddict_with_its_keys() -> None:
    records = {
        n: d for n, d in schema_defs().items() if d.get("type") == "object" and "oneOf" not in d
    }
    assert {"BuildRecord", "TargetRun", "Status"} <= set(records)
    for name, node in records.items():
        assert_record(getattr(_types, name), node)


def test_every_set_of_strings_is_a_literal_of_the_schemas_strings() -> None:
    literals = {}
    for name, node in schema_defs().items():
        if "enum" in node:
            literals[name] = node["enum"]
        elif "oneOf" in node and node.get("type") != "object":
            literals[name] = [option["const"] for option in node["oneOf"]]
    assert {"BuildStatus", "TargetStatus", "ErrorCode"} <= set(literals)
    for name, values in literals.items():
        assert list(get_args(getattr(_types, name))) == values, name


def test_error_code_is_the_codes_of_tests_vectors_error_codes_json() -> None:
    path = repo_root() / "tests" / "vectors" / "error_codes.json"
    if not path.is_file():
        pytest.skip(f"no {path}: not a source tree")
    codes = [c["code"] for c in json.loads(path.read_text())["codes"]]
    assert sorted(get_args(_types.ErrorCode)) == sorted(codes)


def test_every_event_is_a_typeddict_tagged_by_its_type_with_the_envelope() -> None:
    envelope = schema_defs()["EventEnvelope"]
    assert set(envelope["properties"]) == {"seq", "at_ms"}
    assert_record(_types.EventEnvelope, envelope)
    classes = []
    for variant in envelope["oneOf"]:
        tag = variant["properties"]["type"]["const"]
        cls = getattr(_types, "".join(p.capitalize() for p in tag.split("_")) + "Event")
        assert get_type_hints(cls)["type"] == literal(tag), tag
        assert_record(cls, variant, extra=envelope["properties"])
        classes.append(cls)
    assert list(get_args(_types.EngineEvent)) == classes
    tags = [v["properties"]["type"]["const"] for v in envelope["oneOf"]]
    assert list(get_args(_types.EventType)) == tags
    # What an event stream yields: an event, or `lagged` (not in the schema: not an event).
    assert list(get_args(_types.BuildNetEvent)) == [*classes, _types.LaggedEvent]
    assert get_type_hints(_types.LaggedEvent) == {"type": literal("lagged"), "missed": int}


def test_the_package_exports_every_generated_type() -> None:
    assert _types.__all__, "nothing generated"
    for name in _types.__all__:
        assert name in buildnet.__all__, name
        assert getattr(buildnet, name) is getattr(_types, name), name


MISUSE = """
from typing import Optional

from buildnet import BuildNetClient


def misuse(bn: BuildNetClient) -> None:
    record = bn.wait_build("b")
    record["no_such_key"]
    finished: int = record["finished_at"]
    status_of_first: int = record["targets"][0]["status"]
    for event in bn.events():
        event["seq"]
    hit_rate: Optional[float] = bn.get_status()["cache"]["hit_rate"]
"""


def test_mypy_refuses_what_the_records_do_not_have(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    source = tmp_path / "misuse.py"
    source.write_text(textwrap.dedent(MISUSE))
    out, err, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    assert status == 1, out + err
    # mypy spells `Optional[int]` as `int | None` from Python 3.10 on.
    out = out.replace('"Optional[int]"', '"int | None"')
    errors = [line.split(": error: ", 1)[1] for line in out.splitlines() if ": error: " in line]
    assert sorted(errors) == sorted(
        [
            'TypedDict "BuildRecord" has no key "no_such_key"  [typeddict-item]',
            'Incompatible types in assignment (expression has type "int | None", variable has '
            'type "int")  [assignment]',
            "Incompatible types in assignment (expression has type \"Literal['pending', "
            "'running', 'succeeded', 'failed', 'skipped', 'cancelled', 'interrupted']\", "
            'variable has type "int")  [assignment]',
            'TypedDict "LaggedEvent" has no key "seq"  [typeddict-item]',
        ]
    ), out
