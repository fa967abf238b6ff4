"""The project's exceptions, each built on the standard one a caller would catch."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "LookAheadError",
    "OptimizationError",
    "SourceError",
    "SourceUnavailable",
]


class ConfigError(ValueError):
    """A configuration file or value is wrong: unknown key, missing file, bad value."""


class DataError(ValueError):
    """Data violates a contract: wrong columns, corrupt partition, impossible values."""


class LookAheadError(DataError):
    """A frame holds rows dated after the as-of date it was read for."""


class SourceError(RuntimeError):
    """A market data source failed: network fault, protocol error, unknown symbol."""


class SourceUnavailable(SourceError):
    """A source fault no retry can fix, or whose retries ran past the source's deadline.

    A name that does not resolve, a refused connection or handshake: fail at once, never retried.
    """


class OptimizationError(RuntimeError):
    """An optimiser failed to produce weights."""
