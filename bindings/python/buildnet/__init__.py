"""BuildNet, the build daemon for JS/TS monorepos, embedded in Python.

    from buildnet import BuildNetClient

    with BuildNetClient("path/to/buildnet.yaml") as bn:
        build_id = bn.request_build(["app"])
        record = bn.wait_build(build_id)
        print(record["status"])

The client runs the same daemon as `buildnet serve` (HTTP API, dashboard, watcher, build
orchestration) inside this process. Every call releases the GIL while the engine works.

Records, events and error codes are typed for type checkers (`BuildRecord`, `Status`,
`BuildNetEvent`, `ErrorCode`, ...: the TypedDicts and Literals of buildnet._types, generated
from the engine's JSON Schema); at run time they are plain dicts and strings.
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
from buildnet import _types
from buildnet._types import *  # noqa: F403 (the generated types, named in _types.__all__)

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
__all__ += _types.__all__
