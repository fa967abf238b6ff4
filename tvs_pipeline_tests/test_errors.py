"""The project's exceptions (tvs_pipeline/errors.py) sit on the standard ones (STYLE rule 14)."""

from __future__ import annotations

import pytest

from tvs_pipeline.errors import (
    ConfigError,
    DataError,
    LookAheadError,
    OptimizationError,
    SourceError,
)


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (ConfigError, (ValueError,)),
        (DataError, (ValueError,)),
        (LookAheadError, (DataError, ValueError)),
        (SourceError, (RuntimeError,)),
        (OptimizationError, (RuntimeError,)),
    ],
    ids=["config", "data", "look-ahead", "source", "optimization"],
)
def test_each_error_is_caught_as_the_standard_one(error, bases):
    for base in bases:
        with pytest.raises(base, match="subject: what is wrong"):
            raise error("subject: what is wrong")


@pytest.mark.parametrize(
    ("error", "not_a"),
    [
        (ConfigError, DataError),
        (DataError, LookAheadError),
        (SourceError, ValueError),
        (OptimizationError, SourceError),
    ],
    ids=["config-is-not-data", "data-is-not-look-ahead", "source-is-not-value", "opt-not-source"],
)
def test_errors_do_not_catch_their_siblings(error, not_a):
    assert not issubclass(error, not_a)


def test_a_wrapped_error_keeps_its_cause():
    with pytest.raises(DataError) as caught:
        try:
            int("x")
        except ValueError as err:
            raise DataError("bars AAA 2025-01-02: close 'x' is not a number") from err
    assert isinstance(caught.value.__cause__, ValueError)
