"""The `tvs` command, run in-process with a temporary TVS_HOME."""

from __future__ import annotations

import pytest

from tvs_pipeline.cli import main
from tvs_pipeline.lake.ledger import read_records


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TVS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_config_show_prints_the_resolved_profile(capsys):
    assert main(["config", "show", "demo"]) == 0
    out = capsys.readouterr().out
    assert "name: demo" in out and "crypto_top50_trend_short" in out and "lookback_days: 500" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["config", "show", "nosuch"], "profile 'nosuch': unknown profile"),
        (["run", "--date", "2019-01-01"], "date 2019-01-01: outside the partitions"),
        (["run", "--date", "30/06/2026"], "expected YYYY-MM-DD"),
        (["run", "--profile", "nosuch"], "unknown profile"),
        (["backfill", "--start", "2026-06-10", "--end", "2026-06-01"], "is after end"),
        (["sql", "select 1"], "no catalog yet"),
        (["health"], "no data_health partition yet"),
    ],
    ids=[
        "unknown-profile",
        "outside-partitions",
        "bad-date",
        "run-unknown-profile",
        "reversed-range",
        "sql-before-run",
        "health-before-run",
    ],
)
def test_bad_input_is_one_line_and_non_zero(home, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (home / "lake").exists()


@pytest.mark.slow
def test_run_then_sql_and_health(home, capsys):
    assert main(["run", "--date", "2026-06-30"]) == 0
    out = capsys.readouterr().out
    assert "funnel:" in out and "target weights" in out and "report:" in out
    assert "parity htr_3_4 vs" in out
    assert (home / "reports" / "2026-06-30" / "report.md").exists()
    assert main(["sql", "select sleeve, count(*) as n from discovery group by 1 order by 1"]) == 0
    out = capsys.readouterr().out
    assert "crypto" in out and "us_equity" in out and "etf" in out
    assert main(["health"]) == 0
    assert "data_health 2026-06-30" in capsys.readouterr().out
    assert main(["sql", "select * from nope"]) == 2
    assert "sql:" in capsys.readouterr().err
    assert main(["promotion"]) == 0
    out = capsys.readouterr().out
    assert "promotion report 2026-06-30" in out and "champion" in out and "challenger" in out
    assert main(["ledger", "verify"]) == 0
    assert "chain intact" in capsys.readouterr().out
    overlay = home / "calibrated.yaml"
    argv = ["calibrate-regime", "--trials", "3", "--folds", "1", "--out", str(overlay)]
    assert main(argv) == 0
    assert "out-of-fold balanced accuracy" in capsys.readouterr().out
    assert overlay.read_text().startswith("base: demo\nallocation:\n  regime:")
    assert main(["config", "show", str(overlay)]) == 0  # the overlay loads as a profile
    assert "regime:" in capsys.readouterr().out
    ledger = home / "ledger" / "audit.jsonl"
    # Without a daemon the CLI records both runs' outcomes itself, once each.
    outcomes = [r["payload"] for r in read_records(ledger) if r["kind"] == "run_outcome"]
    assert [(o["job"], o["status"]) for o in outcomes] == [
        ("nightly", "SUCCESS"),
        ("shadow", "SUCCESS"),
    ]
    raw = bytearray(ledger.read_bytes())
    second_line = raw.index(b"\n") + 10
    raw[second_line] ^= 0x01
    ledger.write_bytes(bytes(raw))
    assert main(["ledger", "verify"]) == 1
    assert "broken at record 1" in capsys.readouterr().out


@pytest.mark.slow
def test_corrupt_partition_fails_with_one_line_and_writes_nothing_downstream(home, capsys):
    assert main(["run", "--date", "2026-06-30"]) == 0
    corrupt = home / "lake" / "bars" / "date=2026-06-30" / "part.parquet"
    corrupt.write_bytes(b"not parquet")
    capsys.readouterr()
    assert main(["run", "--date", "2026-07-01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tvs: error:") and str(corrupt) in err[-1]
    assert not (home / "lake" / "data_health" / "date=2026-07-01").exists()
    assert not list((home / "lake").rglob("*.tmp"))
