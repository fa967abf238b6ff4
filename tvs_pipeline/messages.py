"""Failures as one line: the thing that failed and the cause, whatever raised it."""

from __future__ import annotations

import re

__all__ = ["describe_error", "one_line"]

# What a library puts around its message: DuckDB's context ("LINE 1: select …" and a caret
# under the culprit), a traceback's frames, Python's "[Errno 28]".
NOISE = re.compile(r"^\s*(\^+|LINE \d+:.*|Traceback \(most recent call last\):|File \".*)\s*$")
ERRNO = re.compile(r"\[Errno [^\]]*\]\s*")


def one_line(text: str) -> str:
    """The line of a multi-line message that says what is wrong.

    The first line that is not blank and not context (DuckDB's ``LINE n:`` and caret lines,
    traceback frames); a header ending in ``:`` is joined to the last such line, which holds
    the detail it introduces (``1 validation error for X: … Input should be …``).

    Parameters
    ----------
    text : str
        A message, possibly over many lines.

    Returns
    -------
    str
        One line, without Python's ``[Errno n]``; empty when ``text`` has nothing but noise.
    """
    lines = [line.strip() for line in str(text).splitlines()]
    kept = [line for line in lines if line and not NOISE.match(line)]
    if not kept:
        return ""
    first = ERRNO.sub("", kept[0])
    if first.endswith(":") and len(kept) > 1:
        first = f"{first} {kept[-1]}"
    return first


def describe_error(err: BaseException) -> str:
    """One line for an exception: the thing that failed and the cause.

    An ``OSError`` with a file names the file and the system's reason
    (``/srv/tvs: Permission denied``); one without a file keeps its own message (ours name
    the file they could not write); anything else is its message reduced by `one_line`,
    or the exception's type when it has none.

    Parameters
    ----------
    err : BaseException
        The failure.

    Returns
    -------
    str
        One line, never empty.
    """
    if isinstance(err, OSError) and err.strerror:
        reason = one_line(err.strerror)
        if err.filename is None:
            return reason
        where = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
        return f"{where}: {reason}"
    return one_line(str(err)) or type(err).__name__
