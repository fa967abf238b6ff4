"""The audit ledger in PostgreSQL: one chain that writers on many machines extend in turn.

The table holds each record's canonical JSON line exactly as the file ledger stores it, keyed
by its sequence number, so `ledger.check_line` verifies both stores the same way::

    CREATE TABLE tvs_audit_ledger (seq bigint PRIMARY KEY, line text NOT NULL)

An append is one transaction: take the transaction-scoped advisory lock of the chain
(``pg_advisory_xact_lock``), read the head, insert the record after it, commit. Appends from
any number of processes and hosts are therefore serialised, and the primary key refuses a fork
even without the lock. A transaction commits whole or not at all: there is no torn tail.

The location is a libpq URL, ``postgresql://user@host:5432/db`` (``?options=-csearch_path%3Dx``
picks a schema); keep the password out of it (``PGPASSWORD`` or ``~/.pgpass``): the location
is part of the run configuration. A ``Path`` made from such a URL (``postgresql:/user@host/db``,
one slash lost) is accepted too.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tvs_pipeline.errors import DataError

__all__ = [
    "TABLE",
    "append_line",
    "database_url",
    "has_records",
    "index_location",
    "is_database",
    "read_lines",
    "redact",
]

T = TypeVar("T")
TABLE = "tvs_audit_ledger"
# The advisory lock key of the chain: one 64-bit number, the same in every process.
LOCK_KEY = int.from_bytes(hashlib.sha256(TABLE.encode()).digest()[:8], "big", signed=True)
CONNECT_TIMEOUT = 10
SCHEMES = ("postgresql:", "postgres:")
_CREATED: set[str] = set()


def is_database(location: object) -> bool:
    """Whether a ledger location names a PostgreSQL database rather than a file."""
    return str(location).startswith(SCHEMES)


def database_url(location: object) -> str:
    """The libpq URL of a location, with the ``//`` a ``Path`` folds to ``/`` put back."""
    text = str(location)
    scheme, _, rest = text.partition(":")
    return f"{scheme}://{rest.lstrip('/')}"


def redact(location: object) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", database_url(location))


def index_location(location: object) -> Path:
    """Where this machine caches the custody index of a database ledger (a cache, per URL)."""
    digest = hashlib.sha256(database_url(location).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"tvs-ledger-{os.getuid()}" / f"{digest}.index.json"


@contextmanager
def _connection(location: object) -> Iterator[Any]:
    try:
        import psycopg2
    except ImportError as err:
        raise DataError(
            f"ledger {redact(location)}: psycopg2 is not installed "
            "(pip install 'tvs_pipeline[postgres]')"
        ) from err
    url = database_url(location)
    try:
        connection = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT)
    except psycopg2.Error as err:
        raise DataError(f"ledger {redact(location)}: cannot connect ({_first_line(err)})") from err
    try:
        yield connection
    finally:
        connection.close()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _transaction(location: object, body: Callable[[Any], T], what: str, *, lock: bool) -> T:
    """Run ``body(cursor)`` in one transaction; with ``lock``, holding the chain's lock.

    A reader takes no lock: the transaction sees one snapshot of the chain (MVCC).
    """
    import psycopg2

    url = database_url(location)
    with _connection(location) as connection:
        try:
            with connection, connection.cursor() as cursor:
                if lock:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                    if url not in _CREATED:
                        cursor.execute(
                            f"CREATE TABLE IF NOT EXISTS {TABLE} "
                            "(seq bigint PRIMARY KEY, line text NOT NULL)"
                        )
                result = body(cursor)
        except psycopg2.Error as err:
            raise DataError(
                f"ledger {redact(location)}: {what} failed ({_first_line(err)})"
            ) from err
    if lock:
        _CREATED.add(url)
    return result


def append_line(location: object, build: Callable[[str | None], str]) -> str:
    """Append the line ``build(last line or None)`` after the chain's head; return it.

    Raises
    ------
    DataError
        The database cannot be reached or refused the line: nothing was appended.
    """

    def body(cursor: Any) -> str:
        cursor.execute(f"SELECT seq, line FROM {TABLE} ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone()
        line = build(None if head is None else head[1])
        seq = 0 if head is None else int(head[0]) + 1
        cursor.execute(f"INSERT INTO {TABLE} (seq, line) VALUES (%s, %s)", (seq, line))
        return line

    return _transaction(location, body, "append", lock=True)


def read_lines(location: object, after: int = -1) -> list[tuple[int, str]]:
    """``(seq, line)`` of every record with ``seq > after``, in order (none: no table yet)."""

    def body(cursor: Any) -> list[tuple[int, str]]:
        cursor.execute("SELECT to_regclass(%s)", (TABLE,))
        if cursor.fetchone()[0] is None:
            return []
        cursor.execute(f"SELECT seq, line FROM {TABLE} WHERE seq > %s ORDER BY seq", (int(after),))
        return [(int(seq), str(line)) for seq, line in cursor.fetchall()]

    return _transaction(location, body, "read", lock=False)


def has_records(location: object) -> bool:
    """Whether the chain holds at least one record."""

    def body(cursor: Any) -> bool:
        cursor.execute("SELECT to_regclass(%s)", (TABLE,))
        if cursor.fetchone()[0] is None:
            return False
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {TABLE})")
        return bool(cursor.fetchone()[0])

    return _transaction(location, body, "read", lock=False)
