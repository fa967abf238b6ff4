"""One-line failures (tvs_pipeline/messages.py)."""

from __future__ import annotations

import errno

import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.messages import describe_error, one_line

DUCKDB_PARSER = (
    'Parser Error: syntax error at or near "frm"\n\nLINE 1: select * frm bars\n                 ^'
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (DUCKDB_PARSER, 'Parser Error: syntax error at or near "frm"'),
        (
            f"duckdb.ParserException: {DUCKDB_PARSER}\n",
            'duckdb.ParserException: Parser Error: syntax error at or near "frm"',
        ),
        (
            "OSError: [Errno 28] could not write x: No space left on device",
            "OSError: could not write x: No space left on device",
        ),
        (
            "1 validation error for Run:\n  lookback\n    Input should be > 0",
            "1 validation error for Run: Input should be > 0",
        ),
        ("\n\n  plain  \n", "plain"),
        ("   ^\n", ""),
    ],
    ids=["duckdb-caret", "duckdb-in-a-step", "errno", "header-and-detail", "padded", "noise-only"],
)
def test_one_line_keeps_the_line_that_says_what_is_wrong(text, line):
    assert one_line(text) == line


@pytest.mark.parametrize(
    ("err", "line"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/tvs"),
            "/srv/tvs: Permission denied",
        ),
        (OSError(errno.ENOSPC, "could not write /l/p.parquet: No space left"), "could not write"),
        (OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"), "/a -> /b: Invalid"),
        (DataError(DUCKDB_PARSER), 'Parser Error: syntax error at or near "frm"'),
        (RuntimeError(), "RuntimeError"),
    ],
    ids=["path", "no-path", "two-paths", "multi-line", "empty"],
)
def test_describe_error_names_the_thing_and_the_cause(err, line):
    assert describe_error(err).startswith(line)
    assert "\n" not in describe_error(err)
