"""Uses the whole public API with annotations; `mypy --strict` must accept it (run by
scripts/test-python.sh against the installed wheel's stub). Never run: not a test."""

from pathlib import Path
from typing import List, Optional, Type

import buildnet
from buildnet import (
    BuildNetClient,
    BuildNetError,
    BuildNetEvent,
    BuildRecord,
    BuildStatus,
    Events,
    Status,
    TargetStatus,
)

ERRORS: List[Type[BuildNetError]] = [
    buildnet.BuildError,
    buildnet.BusyError,
    buildnet.CancelledError,
    buildnet.ConfigError,
    buildnet.CycleError,
    buildnet.DatabaseError,
    buildnet.InternalError,
    buildnet.InvalidArgumentError,
    buildnet.InvalidStateError,
    buildnet.IoError,
    buildnet.NotFoundError,
    buildnet.TimeoutError,
    buildnet.UnauthorizedError,
]


def hashes(data: bytes) -> str:
    digest: int = buildnet.xxhash(data)
    hexdigest: str = buildnet.blake3_hash(data)
    return f"{digest:016x} {hexdigest} {buildnet.__version__}"


def describe(error: BuildNetError) -> str:
    code: str = error.code
    message: str = error.message
    return f"{code}: {message}"


def use(config: Path) -> Optional[str]:
    explicit = BuildNetClient(str(config))
    explicit.start()
    explicit.stop()
    explicit.close()
    discovered = BuildNetClient()
    discovered.close()
    value: Optional[str] = None
    with BuildNetClient(config) as bn:
        address: Optional[str] = bn.address
        build_id: str = bn.request_build(["app"])
        record: BuildRecord = bn.wait_build(build_id)
        record = bn.wait_build(build_id, timeout_ms=1000)
        record = bn.get_build(build_id)
        cancelled: bool = bn.cancel_build(build_id)
        build_status: BuildStatus = record["status"]
        target_status: TargetStatus = record["targets"][0]["status"]
        exit_code: Optional[int] = record["targets"][0]["exit_code"]
        status: Status = bn.get_status()
        hit_rate: Optional[float] = status["cache"]["hit_rate"]
        slots: int = status["slots"]
        bn.set_state("k", "v")
        bn.set_state("k", "v", ttl_ms=1000)
        bn.set_state("k", "v", None)
        value = bn.get_state("k")
        existed: bool = bn.delete_state("k")
        token: Optional[str] = bn.acquire_lock("res", 5000)
        released: bool = token is not None and bn.release_lock("res", token)
        events: Events = bn.events()
        forever: Events = bn.events(timeout_ms=None)
        forever.close()
        for event in events:
            kind: str = event["type"]
            if event["type"] == "lagged":
                missed: int = event["missed"]  # the only item without `seq`
                continue
            seq: int = event["seq"]
            if event["type"] == "target_finished":
                exit_code = event["exit_code"]
            if kind == "build_finished" and seq > 0:
                break
        first: Optional[BuildNetEvent] = next(bn.events(timeout_ms=10), None)
        try:
            bn.request_build(["nope"])
        except buildnet.NotFoundError as err:
            value = describe(err)
        except BuildNetError as err:
            value = err.code
        print(address, record["status"], cancelled, status["running"], existed, released, first)
        print(build_status, target_status, exit_code, hit_rate, slots)
    return value
