"""BuildNet, the build daemon for JS/TS monorepos, embedded in Python.

    from buildnet import BuildNetClient

    with BuildNetClient("path/to/buildnet.yaml") as bn:
        build_id = bn.request_build(["app"])
        record = bn.wait_build(build_id)
        print(record["status"])

The client runs the same daemon as `buildnet serve` (HTTP API, dashboard, watcher, build
orchestration) inside this process. Every call releases the GIL while the engine works.
"""

from buildnet._errors import (
    BuildError,
    BuildNetError,
    BusyError,
    CancelledError,
    ConfigError,
    CycleError,
    DatabaseError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    IoError,
    NotFoundError,
    TimeoutError,
    UnauthorizedError,
)
from buildnet._buildnet import BuildNetClient, Events, __version__, blake3_hash, xxhash

__all__ = [
    "BuildError",
    "BuildNetClient",
    "BuildNetError",
    "BusyError",
    "CancelledError",
    "ConfigError",
    "CycleError",
    "DatabaseError",
    "Events",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "IoError",
    "NotFoundError",
    "TimeoutError",
    "UnauthorizedError",
    "__version__",
    "blake3_hash",
    "xxhash",
]
