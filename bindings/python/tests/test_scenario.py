"""The cross-runtime scenario (tests/scenario/README.md), steps 1 to 9, in Python.

Each test runs on a fresh copy of the fixtures. Python's face: errors are `BuildNetError`
subclasses with a stable `.code` that also join the builtin family that fits; `xxhash`
returns an int and `blake3_hash` 64 hex digits; `stop()`/`close()` twice is a no-op.
"""

import builtins
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import buildnet
from buildnet import (
    BuildError,
    BuildNetClient,
    BuildNetError,
    BuildRecord,
    ConfigError,
    CycleError,
    EngineEvent,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)

from conftest import repo_root

APP_TXT = "alpha\nbeta\nmain\n"
WAIT_MS = 60_000


def build_app(bn: BuildNetClient) -> Tuple[str, BuildRecord]:
    build_id = bn.request_build(["app"])
    assert isinstance(build_id, str) and build_id
    return build_id, bn.wait_build(build_id, timeout_ms=WAIT_MS)


def assert_app_built(record: BuildRecord, build_id: str, cached: bool) -> None:
    assert record["id"] == build_id
    assert record["status"] == "succeeded", record
    assert [t["target"] for t in record["targets"]] == ["lib", "app"], record
    for target in record["targets"]:
        assert target["status"] == "succeeded", target
        assert target["cached"] is cached, target


# 1. Create and start


def test_1_started_client_reports_running_with_a_bound_loopback_address(config: Path) -> None:
    bn = BuildNetClient(str(config))
    try:
        assert bn.address is None
        bn.start()
        bn.start()  # starting a running client returns at once
        status = bn.get_status()
        assert status["running"] is True
        address = status["address"]
        assert address is not None and re.fullmatch(r"127\.0\.0\.1:\d+", address), address
        assert int(address.rsplit(":", 1)[1]) != 0
        assert bn.address == address
        assert status["version"] == buildnet.__version__
    finally:
        bn.stop()


def test_1_with_block_starts_the_client_and_stops_it_at_the_end(config: Path) -> None:
    with BuildNetClient(config) as bn:
        assert bn.get_status()["running"] is True
        assert bn.address is not None
    assert bn.address is None
    with pytest.raises(InvalidStateError):
        bn.get_status()


# 2. Cold build


def test_2_cold_build_runs_lib_then_app_and_writes_the_output(
    client: BuildNetClient, workspace: Path
) -> None:
    build_id, record = build_app(client)
    assert_app_built(record, build_id, cached=False)
    assert (workspace / "out" / "app.txt").read_text() == APP_TXT
    assert client.get_build(build_id)["status"] == "succeeded"


# 3. Cached build


def test_3_cached_build_restores_deleted_outputs(client: BuildNetClient, workspace: Path) -> None:
    build_app(client)
    shutil.rmtree(workspace / "out")
    build_id, record = build_app(client)
    assert_app_built(record, build_id, cached=True)
    assert (workspace / "out" / "app.txt").read_text() == APP_TXT


# 4. Events


def test_4_events_of_the_cold_build_are_typed_sequenced_and_timestamped(config: Path) -> None:
    bn = BuildNetClient(config)
    try:
        events = bn.events(timeout_ms=300)  # everything published from now on
        bn.start()
        build_id, _ = build_app(bn)
        seen: List[EngineEvent] = []
        for event in events:
            assert event["type"] != "lagged", event
            seen.append(event)
            if event["type"] == "build_finished" and event.get("build_id") == build_id:
                break
    finally:
        bn.stop()
    for e in seen:
        assert isinstance(e, dict)
        assert isinstance(e["type"], str)
        assert isinstance(e["seq"], int)
        assert isinstance(e["at_ms"], int) and e["at_ms"] > 0
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ours = [e for e in seen if e.get("build_id") == build_id]
    assert [e["type"] for e in ours if e["type"] == "build_started"] == ["build_started"]
    assert [e["type"] for e in ours if e["type"] == "build_finished"] == ["build_finished"]
    assert [e["target"] for e in ours if e["type"] == "target_finished"] == ["lib", "app"]


# 5. State


def test_5_state_get_set_ttl_and_delete(client: BuildNetClient) -> None:
    assert client.get_state("scenario/missing") is None
    client.set_state("scenario/k", "v1")
    assert client.get_state("scenario/k") == "v1"
    big = "x" * 10_000
    client.set_state("scenario/big", big)
    assert client.get_state("scenario/big") == big
    client.set_state("scenario/ttl", "soon", 150)
    assert client.get_state("scenario/ttl") == "soon"
    time.sleep(0.4)
    assert client.get_state("scenario/ttl") is None
    assert client.delete_state("scenario/k") is True
    assert client.delete_state("scenario/k") is False
    assert client.get_state("scenario/k") is None


# 6. Locks


def test_6_locks_contend_release_only_with_the_token_and_reacquire(
    client: BuildNetClient,
) -> None:
    token = client.acquire_lock("scenario/res", 5000)
    assert token is not None and re.fullmatch(r"[0-9a-f]{32}", token), token
    assert client.acquire_lock("scenario/res", 5000) is None
    assert client.release_lock("scenario/res", "0123456789abcdef0123456789abcdef") is False
    assert client.release_lock("scenario/res", token) is True
    again = client.acquire_lock("scenario/res", 5000)
    assert again is not None and again != token
    assert client.release_lock("scenario/res", again) is True


# 7. Hashes


def load_vectors() -> List[Dict[str, Any]]:
    path = repo_root() / "tests" / "vectors" / "hashes.json"
    vectors: List[Dict[str, Any]] = json.loads(path.read_text())["vectors"]
    return vectors


def vector_input(vector: Dict[str, Any]) -> bytes:
    if "utf8" in vector:
        data: bytes = vector["utf8"].encode()
        return data
    assert vector["generate"]["pattern"] == "byte i = i % 251"
    return bytes(i % 251 for i in range(vector["generate"]["length"]))


VECTORS = load_vectors()


def test_7_there_are_hash_vectors() -> None:
    assert len(VECTORS) >= 5


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_7_hashes_match_the_shared_vectors(vector: Dict[str, Any]) -> None:
    data = vector_input(vector)
    digest = buildnet.xxhash(data)
    assert isinstance(digest, int)
    assert digest == int(vector["xxh3_64"], 16)
    hexdigest = buildnet.blake3_hash(data)
    assert re.fullmatch(r"[0-9a-f]{64}", hexdigest)
    assert hexdigest == vector["blake3"]


# 8. Errors


def test_8_unknown_target_is_not_found_naming_it(client: BuildNetClient) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.request_build(["nope"])
    assert raised.value.code == "BUILDNET_NOT_FOUND"
    assert isinstance(raised.value, LookupError)
    assert isinstance(raised.value, BuildNetError)
    assert '"nope"' in str(raised.value)
    assert raised.value.message == str(raised.value)


def test_8_building_into_a_cycle_is_a_cycle_error(cycle_config: Path) -> None:
    bn = BuildNetClient(cycle_config)
    try:
        with pytest.raises(CycleError) as raised:
            bn.request_build(["a"])
    finally:
        bn.close()
    assert raised.value.code == "BUILDNET_CYCLE"
    assert isinstance(raised.value, BuildError)
    assert "a -> b -> a" in str(raised.value)


def test_8_missing_config_file_is_not_found_naming_the_path(workspace: Path) -> None:
    missing = workspace / "no-such.yaml"
    with pytest.raises(NotFoundError) as raised:
        BuildNetClient(missing)
    assert raised.value.code == "BUILDNET_NOT_FOUND"
    assert str(missing) in str(raised.value)


def test_8_malformed_config_is_a_config_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [this is not a map\n")
    with pytest.raises(ConfigError) as raised:
        BuildNetClient(bad)
    assert raised.value.code == "BUILDNET_CONFIG"
    assert f"{bad}:1:" in str(raised.value)
    assert "targets" in str(raised.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda bn: bn.get_state(""),
        lambda bn: bn.set_state("", "v"),
        lambda bn: bn.delete_state(""),
    ],
    ids=["get_state", "set_state", "delete_state"],
)
def test_8_empty_key_is_an_invalid_argument(
    client: BuildNetClient, call: Callable[[BuildNetClient], object]
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        call(client)
    assert raised.value.code == "BUILDNET_INVALID_ARGUMENT"
    assert isinstance(raised.value, ValueError)
    assert "key" in str(raised.value)


def test_8_unknown_build_id_is_not_found_naming_it(client: BuildNetClient) -> None:
    for call in (
        lambda: client.wait_build("no-such-build", timeout_ms=100),
        lambda: client.get_build("no-such-build"),
        lambda: client.cancel_build("no-such-build"),
    ):
        with pytest.raises(NotFoundError, match='"no-such-build"') as raised:
            call()
        assert raised.value.code == "BUILDNET_NOT_FOUND"


# 9. Destroy


AFTER_STOP: List[Tuple[str, Callable[[BuildNetClient], object]]] = [
    ("start", lambda bn: bn.start()),
    ("__enter__", lambda bn: bn.__enter__()),
    ("request_build", lambda bn: bn.request_build(["app"])),
    ("wait_build", lambda bn: bn.wait_build("x", timeout_ms=100)),
    ("get_build", lambda bn: bn.get_build("x")),
    ("cancel_build", lambda bn: bn.cancel_build("x")),
    ("get_status", lambda bn: bn.get_status()),
    ("get_state", lambda bn: bn.get_state("scenario/k")),
    ("set_state", lambda bn: bn.set_state("scenario/k", "v")),
    ("delete_state", lambda bn: bn.delete_state("scenario/k")),
    ("acquire_lock", lambda bn: bn.acquire_lock("scenario/res", 1000)),
    ("release_lock", lambda bn: bn.release_lock("scenario/res", "t")),
    ("events", lambda bn: bn.events()),
]


@pytest.mark.parametrize("method", ["stop", "close"])
def test_9_after_stop_every_call_raises_invalid_state_and_stopping_again_is_a_no_op(
    config: Path, method: str
) -> None:
    bn = BuildNetClient(config)
    bn.start()
    bn.set_state("scenario/kept", "yes")
    getattr(bn, method)()
    bn.stop()
    bn.close()
    assert bn.address is None
    for name, call in AFTER_STOP:
        with pytest.raises(InvalidStateError) as raised:
            call(bn)
        assert raised.value.code == "BUILDNET_INVALID_STATE", name
        assert isinstance(raised.value, RuntimeError), name
        assert "closed" in str(raised.value), (name, str(raised.value))
    # The state outlives the client: a new one over the same workspace reads it.
    again = BuildNetClient(config)
    try:
        assert again.get_state("scenario/kept") == "yes"
    finally:
        again.close()


def test_error_classes_join_the_builtin_families() -> None:
    assert issubclass(buildnet.NotFoundError, LookupError)
    assert issubclass(buildnet.InvalidArgumentError, ValueError)
    assert issubclass(buildnet.InvalidStateError, RuntimeError)
    assert issubclass(buildnet.CycleError, buildnet.BuildError)
    assert issubclass(buildnet.TimeoutError, builtins.TimeoutError)
    assert issubclass(buildnet.IoError, OSError)
    for name in buildnet.__all__:
        value = getattr(buildnet, name)
        if isinstance(value, type) and name.endswith("Error"):
            assert issubclass(value, BuildNetError), name


def error_codes_vector() -> List[Dict[str, Any]]:
    """tests/vectors/error_codes.json: the engine's ErrorCode enum, one entry per code."""
    codes = json.loads((repo_root() / "tests" / "vectors" / "error_codes.json").read_text())
    entries: List[Dict[str, Any]] = codes["codes"]
    assert entries, "no codes in the vector"
    assert len({c["name"] for c in entries}) == len(entries), "a name listed twice"
    assert len({c["code"] for c in entries}) == len(entries), "a code listed twice"
    return entries


def test_error_classes_are_exactly_the_codes_of_tests_vectors_error_codes_json() -> None:
    """Each code has its class `<name>Error` in buildnet._errors, a BuildNetError exported by
    `buildnet` that carries the code; no other class stands for a code (BuildError groups
    CycleError and CancelledError and has no code of its own)."""
    from buildnet import _errors

    expected = {f"{c['name']}Error": c["code"] for c in error_codes_vector()}
    for class_name, code in expected.items():
        cls = getattr(_errors, class_name, None)
        assert isinstance(cls, type) and issubclass(cls, BuildNetError), class_name
        assert getattr(buildnet, class_name) is cls, class_name
        assert class_name in buildnet.__all__, class_name
        error = cls("message", code)
        assert isinstance(error, BuildNetError), class_name
        assert (error.code, error.message) == (code, "message"), class_name
    classes = {
        name
        for name, value in vars(_errors).items()
        if isinstance(value, type)
        and issubclass(value, BuildNetError)
        and value.__module__ == _errors.__name__
    }
    assert classes - {"BuildNetError", "BuildError"} == set(expected)


def test_the_native_module_raises_the_class_named_after_each_code() -> None:
    """buildnet-py raises the class `<name>Error` for code `<name>` (the rule the test above
    holds `buildnet._errors` to): engine errors of several codes, caught by their classes."""
    with pytest.raises(buildnet.NotFoundError) as not_found:
        buildnet.BuildNetClient("/no/such/dir/buildnet.yaml")
    assert not_found.value.code == "BUILDNET_NOT_FOUND"
    with tempfile.TemporaryDirectory() as ws:
        config = Path(ws) / "buildnet.yaml"
        config.write_text("targets: [")
        with pytest.raises(buildnet.ConfigError) as bad:
            buildnet.BuildNetClient(str(config))
        assert bad.value.code == "BUILDNET_CONFIG"
        config.write_text("server: {port: 0}\n")
        client = buildnet.BuildNetClient(str(config))
        with pytest.raises(buildnet.InvalidArgumentError) as empty:
            client.set_state("", "v")
        assert empty.value.code == "BUILDNET_INVALID_ARGUMENT"
        client.close()
        with pytest.raises(buildnet.InvalidStateError) as closed:
            client.get_state("k")
        assert closed.value.code == "BUILDNET_INVALID_STATE"
