"""The exceptions BuildNet raises: one class per stable error code, all `BuildNetError`s.

Where a builtin family fits, the class joins it too, so `except ValueError` or
`except LookupError` keeps working in code that does not know BuildNet.
"""

import builtins


class BuildNetError(Exception):
    """Any error of the engine. `code` is stable (e.g. "BUILDNET_NOT_FOUND")."""

    def __init__(self, message: str, code: str = "BUILDNET_INTERNAL") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgumentError(BuildNetError, ValueError):
    """An argument was malformed: an empty key, a bad TTL, a bad target list."""


class NotFoundError(BuildNetError, LookupError):
    """What was asked for does not exist: an unknown target or build, a missing config file."""


class ConfigError(BuildNetError):
    """The configuration file or an environment override is invalid."""


class BuildError(BuildNetError):
    """A build could not be run as asked."""


class CycleError(BuildError):
    """The target graph has a cycle."""


class CancelledError(BuildError):
    """The operation was cancelled."""


class BusyError(BuildNetError):
    """The resource is held by someone else (e.g. another daemon serves the workspace)."""


class IoError(BuildNetError, OSError):
    """A filesystem or socket operation failed."""


class TimeoutError(BuildNetError, builtins.TimeoutError):
    """The operation did not finish in time."""


class UnauthorizedError(BuildNetError):
    """A token was required and missing or wrong."""


class DatabaseError(BuildNetError):
    """The state database failed."""


class InvalidStateError(BuildNetError, RuntimeError):
    """The client was stopped or closed, or is used in a child made by fork()."""


class InternalError(BuildNetError):
    """A bug inside BuildNet."""
