"""The audit ledger in PostgreSQL (when a server runs on 127.0.0.1, as in CI).

Each test gets its own schema in the ``tvs_dagster`` database (`.ci/run` creates the ``tvs``
role and that database), picked through libpq's ``options`` in the URL; the password comes
from ``PGPASSWORD``, never from the URL.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.custody import LakeCustody
from tvs_pipeline.lake.ledger import (
    GENESIS,
    append_record,
    append_run_outcome,
    read_records,
    repair_tail,
    verify_ledger,
)
from tvs_pipeline.lake.ledger_db import TABLE, database_url, redact

HOST, PORT, DATABASE = "127.0.0.1", 5432, "tvs_dagster"
WRITERS, EACH = 4, 30


def _reachable() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason="no PostgreSQL server on 127.0.0.1:5432")
psycopg2 = pytest.importorskip("psycopg2")


@pytest.fixture
def ledger(monkeypatch):
    """A ledger URL in a fresh schema, dropped afterwards."""
    monkeypatch.setenv("PGPASSWORD", "tvs")
    schema = f"ledger_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=HOST, port=PORT, user="tvs", password="tvs", dbname=DATABASE)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    yield f"postgresql://tvs@{HOST}:{PORT}/{DATABASE}?options=-csearch_path%3D{schema}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


def rows(url: str) -> list[tuple[int, str]]:
    """The stored lines, read with our own query (not the code under test)."""
    with psycopg2.connect(database_url(url)) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, line FROM {TABLE} ORDER BY seq")
        return cursor.fetchall()


def writer(url: str, number: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()
    for n in range(EACH):
        append_record(url, "output", {"writer": number, "n": n})


def test_four_processes_append_at_once_to_one_unbroken_chain(ledger):
    start = multiprocessing.get_context("fork").Barrier(WRITERS)
    processes = [
        multiprocessing.get_context("fork").Process(target=writer, args=(ledger, i, start))
        for i in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    stored = rows(ledger)
    # The chain re-derived by hand: consecutive seq, each prev the hash before it, each hash
    # the sha256 of the other five fields' canonical JSON.
    prev = GENESIS
    for expected_seq, (seq, line) in enumerate(stored):
        record = json.loads(line)
        body = {k: v for k, v in record.items() if k != "hash"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert seq == record["seq"] == expected_seq
        assert record["prev"] == prev
        assert record["hash"] == hashlib.sha256(text.encode()).hexdigest()
        prev = record["hash"]
    seen = sorted((json.loads(line)["payload"]["writer"], json.loads(line)["payload"]["n"])
                  for _, line in stored)  # fmt: skip
    assert seen == [(w, n) for w in range(WRITERS) for n in range(EACH)]
    verdict = verify_ledger(ledger)
    assert verdict.ok and verdict.records == WRITERS * EACH


def test_records_read_back_in_order_and_repair_has_nothing_to_do(ledger):
    assert verify_ledger(ledger).ok and verify_ledger(ledger).records == 0
    assert read_records(ledger) == []
    first = append_record(ledger, "output", {"asset": "bars", "note": "é ✓"})
    second = append_run_outcome(ledger, "run-1", "nightly", {"tvs/path": "champion"})
    assert [r["seq"] for r in read_records(ledger)] == [0, 1]
    assert read_records(ledger) == [first, second]
    assert second["prev"] == first["hash"] and first["prev"] == GENESIS
    assert repair_tail(ledger) is None


def test_a_path_made_from_the_url_reaches_the_same_chain(ledger):
    append_record(Path(ledger), "output", {"asset": "bars"})  # as the IO manager passes it
    assert len(rows(ledger)) == 1


def test_a_tampered_row_is_named_by_verify(ledger):
    for i in range(3):
        append_record(ledger, "output", {"asset": "bars", "rows": i})
    with psycopg2.connect(database_url(ledger)) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET line = replace(line, '\"rows\":1', '\"rows\":9') WHERE seq = 1"
        )
    verdict = verify_ledger(ledger)
    assert not verdict.ok and verdict.broken_at == 1
    assert "hash does not match the content" in str(verdict)


def test_custody_folds_a_database_ledger(ledger, tmp_path):
    root = tmp_path / "lake"
    path = root / "bars" / "date=2025-06-30" / "part.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"close": [1.0]}).to_parquet(path, index=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    files = {"2025-06-30": {"sha256": digest, "rows": 1}}
    append_record(
        ledger, "output", {"run_id": "r", "step": "bars", "asset": "bars", "files": files}
    )
    custody = LakeCustody(ledger, str(root))
    assert custody.check("bars", ["2025-06-30"]) == {"2025-06-30": digest}
    assert custody.verify().ok
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(DataError, match="does not match its latest output record"):
        LakeCustody(ledger, str(root)).check("bars", ["2025-06-30"])


def test_an_unreachable_database_is_one_line_without_the_password():
    url = "postgresql://tvs:secret@127.0.0.1:9/nowhere"
    with pytest.raises(DataError, match=r"^ledger postgresql://tvs:\*\*\*@127.0.0.1:9/nowhere: "
                       r"cannot connect \(") as caught:  # fmt: skip
        append_record(url, "output", {"asset": "bars"})
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)
    assert redact(url) == "postgresql://tvs:***@127.0.0.1:9/nowhere"


def test_tvs_ledger_verify_reads_the_database_chain(ledger, tmp_path, monkeypatch):
    env = {"TVS_HOME": str(tmp_path / "home"), "TVS_LEDGER": ledger, "PGPASSWORD": "tvs"}
    monkeypatch.delenv("TVS_LEDGER", raising=False)
    command = [sys.executable, "-m", "tvs_pipeline.cli", "ledger", "verify"]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 2 and "no ledger at postgresql://" in done.stderr
    for i in range(3):
        append_record(ledger, "output", {"asset": "bars", "rows": i})
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ledger ok: 3 records, chain intact")


@pytest.mark.slow
def test_a_nightly_run_keeps_its_whole_audit_trail_in_the_database(ledger, tmp_path):
    from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS
    from tvs_pipeline.defs.runner import run_job
    from tvs_pipeline.settings import load_settings

    settings = load_settings({"TVS_HOME": str(tmp_path / "home"), "TVS_LEDGER": ledger})
    outcome = run_job(settings, "nightly", partition_key="2025-06-30")
    assert outcome.success, outcome.failure
    kinds = [json.loads(line)["kind"] for _, line in rows(ledger)]
    # A write and an output per asset of the job, the steps' intents, then the run's outcome;
    # nothing in a file.
    assert kinds.count("output") == kinds.count("write") == len(NIGHTLY_ASSETS)
    assert kinds[-1] == "run_outcome" and kinds.count("intent") >= len(NIGHTLY_ASSETS) - 1
    assert verify_ledger(ledger).ok
    assert LakeCustody(ledger, settings.lake_root).verify().ok
    assert not (settings.ledger_dir / "audit.jsonl").exists()
