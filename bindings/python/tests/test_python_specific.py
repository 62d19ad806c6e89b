"""What only the Python face has: the GIL, the event iterator, fork(), the context manager,
Python's integer conversion, and which `buildnet` is imported under the packaging script."""

import builtins
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pytest

import buildnet
from buildnet import (
    BusyError,
    BuildNetClient,
    BuildNetError,
    InvalidArgumentError,
    InvalidStateError,
)

from conftest import repo_root

# --- the GIL ---------------------------------------------------------------------------------


class Spinner:
    """A thread doing pure-Python work: it only advances while it can take the GIL. It notes
    (time, count) every 4096 steps, so a caller can see whether it ran within a time window."""

    def __init__(self) -> None:
        self.count = 0
        self.samples: List[Tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.count += 1
            if self.count % 4096 == 0:
                self.samples.append((time.monotonic(), self.count))

    def advanced_between(self, start: float, end: float) -> int:
        inside = [count for at, count in self.samples if start <= at <= end]
        return inside[-1] - inside[0] if inside else 0

    def __enter__(self) -> "Spinner":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_wait_build_releases_the_gil_so_other_python_threads_run(slow_config: Path) -> None:
    with BuildNetClient(slow_config) as bn, Spinner() as spinner:
        build_id = bn.request_build(["slow"])
        started = time.monotonic()
        record = bn.wait_build(build_id, timeout_ms=30_000)
        finished = time.monotonic()
    assert record["status"] == "succeeded", record
    assert finished - started >= 0.5, "wait_build returned before the 1 s build could finish"
    # Away from the edges of the wait, where a thread switch could let the spinner run even
    # if wait_build held the GIL.
    during = spinner.advanced_between(started + 0.2, finished - 0.2)
    assert during > 10_000, f"the other thread advanced {during} times while wait_build waited"


def test_wait_build_past_its_timeout_raises_timeout_error_and_the_build_can_be_cancelled(
    slow_config: Path,
) -> None:
    with BuildNetClient(slow_config) as bn:
        build_id = bn.request_build(["slow"])
        started = time.monotonic()
        with pytest.raises(buildnet.TimeoutError) as raised:
            bn.wait_build(build_id, timeout_ms=100)
        waited = time.monotonic() - started
        assert raised.value.code == "BUILDNET_TIMEOUT"
        assert isinstance(raised.value, builtins.TimeoutError)
        assert waited >= 0.09, waited
        assert bn.get_build(build_id)["status"] in ("queued", "running")  # it did not wait
        assert bn.cancel_build(build_id) is True
        record = bn.wait_build(build_id, timeout_ms=10_000)
        assert record["status"] == "cancelled", record


def test_cancel_build_after_wait_build_returned_says_the_build_had_finished(
    client: BuildNetClient,
) -> None:
    answers: List[bool] = []
    for _ in range(200):
        build_id = client.request_build(["app"])  # cached after the first: a few ms each
        client.wait_build(build_id, timeout_ms=60_000)
        answers.append(client.cancel_build(build_id))
        assert client.get_build(build_id)["status"] == "succeeded"
    assert answers.count(True) == 0, f"{answers.count(True)} of 200 finished builds 'cancelled'"


# --- events() --------------------------------------------------------------------------------


def test_events_yields_dicts_with_build_started_and_finished_of_the_build(
    client: BuildNetClient,
) -> None:
    events = client.events(timeout_ms=5000)
    build_id = client.request_build(["app"])
    ours: List[buildnet.BuildNetEvent] = []
    for event in events:
        assert isinstance(event, dict)
        if event.get("build_id") == build_id:
            ours.append(event)
            if event["type"] == "build_finished":
                break
    types = [e["type"] for e in ours]
    assert types[0] == "build_queued" and "build_started" in types, types
    assert types[-1] == "build_finished", types
    last = ours[-1]
    assert last["type"] == "build_finished" and last["status"] == "succeeded", last
    assert client.wait_build(build_id)["status"] == "succeeded"


def test_events_ends_after_timeout_without_events(config: Path) -> None:
    bn = BuildNetClient(config)  # not started: nothing publishes
    try:
        events = bn.events(timeout_ms=200)
        started = time.monotonic()
        with pytest.raises(StopIteration):
            next(events)
        assert 0.19 <= time.monotonic() - started < 2.0
        assert list(bn.events(timeout_ms=50)) == []
    finally:
        bn.close()


def iterate_in_thread(events: buildnet.Events) -> Tuple[threading.Thread, List[object]]:
    seen: List[object] = []

    def read() -> None:
        for event in events:
            seen.append(event)
        seen.append("ended")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(0.3)  # the reader is now waiting in next()
    return thread, seen


def test_events_iteration_ends_when_the_client_is_stopped_from_another_thread(
    config: Path,
) -> None:
    bn = BuildNetClient(config)
    bn.start()
    thread, seen = iterate_in_thread(bn.events(timeout_ms=None))
    bn.stop()
    thread.join(5)
    assert not thread.is_alive(), "iteration did not end when the client was stopped"
    assert seen[-1] == "ended"


def test_events_close_ends_an_iteration_waiting_in_another_thread(
    client: BuildNetClient,
) -> None:
    events = client.events(timeout_ms=None)
    thread, seen = iterate_in_thread(events)
    events.close()
    thread.join(5)
    assert not thread.is_alive(), "iteration did not end when the iterator was closed"
    assert seen == ["ended"]
    with pytest.raises(StopIteration):
        next(events)


# --- fork() ----------------------------------------------------------------------------------

CHILD_OK, CHILD_NO_ERROR, CHILD_WRONG_ERROR, CHILD_SLOW, CHILD_CRASHED = 0, 10, 11, 12, 13


def child_observes(bn: BuildNetClient) -> int:
    """Runs in the forked child: every call must fail at once with InvalidStateError."""
    calls: List[Callable[[], object]] = [
        lambda: bn.get_state("fork/k"),
        lambda: bn.set_state("fork/k", "child"),
        lambda: bn.request_build(["app"]),
        lambda: bn.get_status(),
        lambda: bn.events(),
        lambda: bn.start(),
    ]
    for call in calls:
        started = time.monotonic()
        try:
            call()
            return CHILD_NO_ERROR
        except InvalidStateError as err:
            if err.code != "BUILDNET_INVALID_STATE" or "fork()" not in str(err):
                return CHILD_WRONG_ERROR
        except BaseException:
            return CHILD_WRONG_ERROR
        if time.monotonic() - started > 2.0:
            return CHILD_SLOW
    bn.close()  # in the child: forgets the client, leaves the parent's daemon alone
    return CHILD_OK


def wait_for_child(pid: int, limit_s: float) -> Optional[int]:
    """The child's exit code, or None if it did not exit within `limit_s` (then killed)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_gets_invalid_state_at_once_and_the_parent_keeps_working(
    client: BuildNetClient,
) -> None:
    client.set_state("fork/k", "parent")
    address = client.address
    pid = os.fork()
    if pid == 0:
        code = CHILD_CRASHED
        try:
            code = child_observes(client)
        finally:
            os._exit(code)
    exit_code = wait_for_child(pid, 20.0)
    assert exit_code is not None, "the child hung calling the parent's client"
    meaning = {
        CHILD_NO_ERROR: "a call succeeded in the child",
        CHILD_WRONG_ERROR: "a call raised something other than InvalidStateError naming fork()",
        CHILD_SLOW: "a call took more than 2 s to fail",
        CHILD_CRASHED: "the child raised while checking",
    }
    assert exit_code == CHILD_OK, meaning.get(exit_code, f"child exit code {exit_code}")
    assert client.get_state("fork/k") == "parent"
    status = client.get_status()
    assert status["running"] is True and status["address"] == address
    build_id = client.request_build(["app"])
    assert client.wait_build(build_id, timeout_ms=60_000)["status"] == "succeeded"


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_new_client_made_in_a_forked_child_works(
    client: BuildNetClient, tmp_path: Path
) -> None:
    # The parent has used the engine (its runtime and hashing threads exist only in it).
    assert client.wait_build(client.request_build(["app"]), timeout_ms=60_000)["status"] == "succeeded"
    child_ws = tmp_path / "child-ws"
    shutil.copytree(Path(client.get_status()["workspace"]), child_ws,
                    ignore=shutil.ignore_patterns(".buildnet", "dist", "out"))
    pid = os.fork()
    if pid == 0:
        code = 10
        try:
            with BuildNetClient(child_ws / "buildnet.yaml") as bn:
                events = bn.events(timeout_ms=5000)
                record = bn.wait_build(bn.request_build(["app"]), timeout_ms=30_000)
                seen = []
                for event in events:
                    seen.append(event["type"])
                    if event["type"] == "build_finished":
                        break
                big = buildnet.blake3_hash(bytes(300_000))  # large enough for the parallel path
                ok = (record["status"] == "succeeded" and "build_finished" in seen
                      and big == buildnet.blake3_hash(bytes(300_000)) and len(big) == 64)
                code = 0 if ok else 11
        finally:
            os._exit(code)
    exit_code = wait_for_child(pid, 30.0)
    assert exit_code == 0, f"the child's own client did not work (exit {exit_code})"


# --- stop() and the context manager ----------------------------------------------------------


def test_using_the_client_after_stop_raises_invalid_state_saying_it_was_closed(
    config: Path,
) -> None:
    bn = BuildNetClient(config)
    bn.start()
    bn.stop()
    with pytest.raises(InvalidStateError, match="has been closed") as raised:
        bn.set_state("k", "v")
    assert raised.value.code == "BUILDNET_INVALID_STATE"
    assert raised.value.message == "this buildnet daemon has been closed"


def test_context_manager_stops_when_the_block_raises_and_frees_the_workspace(
    config: Path, workspace: Path
) -> None:
    with pytest.raises(KeyError, match="boom"):
        with BuildNetClient(config) as bn:
            assert (workspace / ".buildnet" / "daemon.json").is_file()
            raise KeyError("boom")
    assert bn.address is None
    assert not (workspace / ".buildnet" / "daemon.json").exists()
    with pytest.raises(InvalidStateError):
        bn.get_state("k")
    with BuildNetClient(config) as again:
        assert again.get_status()["running"] is True


def test_a_second_client_cannot_start_on_a_workspace_another_serves(
    client: BuildNetClient, config: Path
) -> None:
    other = BuildNetClient(config)
    try:
        with pytest.raises(BusyError) as raised:
            other.start()
        assert raised.value.code == "BUILDNET_BUSY"
        assert str(client.address) in str(raised.value)
        client.set_state("shared/k", "v")
        assert other.get_state("shared/k") == "v"  # same state, without serving
    finally:
        other.close()


def test_a_client_that_was_never_started_serves_state_without_listening(config: Path) -> None:
    bn = BuildNetClient(config)
    try:
        assert bn.address is None
        assert bn.get_status()["running"] is False
        bn.set_state("k", "v")
        assert bn.get_state("k") == "v"
    finally:
        bn.close()


def test_the_config_path_may_be_a_pathlib_path_or_a_str(config: Path) -> None:
    for path in (config, str(config)):
        bn = BuildNetClient(path)
        try:
            assert bn.get_status()["config_file"] == str(config)
        finally:
            bn.close()


# --- integer arguments -----------------------------------------------------------------------


def test_set_state_with_ttl_zero_raises_invalid_argument_naming_the_ttl(
    client: BuildNetClient,
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        client.set_state("ttl/zero", "v", ttl_ms=0)
    assert raised.value.code == "BUILDNET_INVALID_ARGUMENT"
    assert "TTL" in str(raised.value) and "got 0" in str(raised.value)
    assert client.get_state("ttl/zero") is None


def test_negative_ttls_and_timeouts_are_invalid_argument_errors(
    client: BuildNetClient,
) -> None:
    with pytest.raises(buildnet.InvalidArgumentError) as raised:
        client.set_state("ttl/negative", "v", ttl_ms=-1)
    assert isinstance(raised.value, ValueError)
    assert "ttl_ms" in str(raised.value) and "-1" in str(raised.value)
    assert client.get_state("ttl/negative") is None
    with pytest.raises(buildnet.InvalidArgumentError):
        client.acquire_lock("ttl/negative", -5)
    with pytest.raises(buildnet.InvalidArgumentError):
        client.wait_build("no-such-build", timeout_ms=-1)


def test_hash_functions_refuse_str() -> None:
    with pytest.raises(TypeError):
        buildnet.xxhash("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        buildnet.blake3_hash("abc")  # type: ignore[arg-type]


# --- the package under test ------------------------------------------------------------------


def test_the_imported_buildnet_is_the_installed_wheel_when_the_packaging_script_runs() -> None:
    if not os.environ.get("BUILDNET_REPO"):
        pytest.skip("only under scripts/test-python.sh, which sets BUILDNET_REPO")
    package = Path(buildnet.__file__).resolve().parent
    source = repo_root() / "bindings" / "python"
    assert not package.is_relative_to(source), f"imported {package}, the source folder"
    assert (package / "py.typed").is_file()
    assert (package / "_buildnet.pyi").is_file()
