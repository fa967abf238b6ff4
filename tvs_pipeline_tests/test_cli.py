"""The `tvs` command, run in-process with a temporary TVS_HOME."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.cli import main
from tvs_pipeline.lake.ledger import append_record, append_run_outcome, read_records
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic
from tvs_pipeline.simulation.metrics import ledger_metrics
from tvs_pipeline.simulation.tearsheet import format_metric


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
        (["sql", "select 1"], "no asset yet (run `tvs run` first)"),
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
    assert "track record (out of sample" in out
    page = home / "reports" / "champion" / "2026-06-30_2026-06-30" / "index.html"
    assert page.exists() and str(page) in out
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


# ---------------------------------------------------------------- tvs report


def _track_record(days: pd.DatetimeIndex, net: np.ndarray) -> pd.DataFrame:
    """A track record following the simulation contract; weekdays are sessions."""
    session = days.day_of_week < 5
    net = np.where(session, net, 0.0)
    cost = np.where(session, 0.0001, 0.0)
    return pd.DataFrame(
        {
            "date": days,
            "gross": net + cost,
            "trading_cost": cost,
            "borrow": np.zeros(len(days)),
            "cost": cost,
            "net": net,
            "turnover": np.where(session, 0.1, 0.0),
            "equity": np.cumprod(1.0 + net),
            "long_exposure": np.where(session, 1.0, 0.0),
            "short_exposure": np.zeros(len(days)),
            "gross_exposure": np.where(session, 1.0, 0.0),
            "net_exposure": np.where(session, 1.0, 0.0),
            "session": session,
            "rebalanced": session,
            "universe_return": np.where(session, net / 2, np.nan),
            "decided_on": days - pd.Timedelta(days=1),
        }
    )


def _write_days(root: str, asset: str, frame: pd.DataFrame) -> None:
    """One partition per day; the files hold no ``date`` (the partition path carries it)."""
    for day, rows in frame.groupby("date"):
        write_parquet_atomic(rows.drop(columns="date"), partition_path(root, asset, day))


@pytest.fixture
def track_lake(home):
    """Both roles' records over Mon 3 .. Sun 16 March 2025, and their books."""
    root = str(home / "lake")
    days = pd.date_range("2025-03-03", "2025-03-16", freq="D").as_unit("ns")
    rng = np.random.default_rng(4)
    records = {
        "simulation": _track_record(days, rng.normal(0.002, 0.01, len(days))),
        "simulation_challenger": _track_record(days, rng.normal(-0.001, 0.01, len(days))),
    }
    for asset, frame in records.items():
        _write_days(root, asset, frame)
    for asset in ("allocation", "allocation_challenger"):
        books = []
        for day in days:
            books.append(pd.DataFrame({
                "date": day, "kind": "physical", "symbol": ["X:A", "X:B", "X:C"],
                "net_weight": [0.6, 0.5, -0.1],
            }))  # fmt: skip
            # An atom row's weight is NaN here: the tear sheet refuses it, so a pass shows
            # that the command reads only the physical rows.
            books.append(pd.DataFrame(
                {"date": day, "kind": "atom", "symbol": ["atom:1"], "net_weight": [np.nan]}
            ))  # fmt: skip
        _write_days(root, asset, pd.concat(books, ignore_index=True))
    return records


def _headline_lines(out: str) -> dict[str, str]:
    rows = [line.strip().rsplit(None, 1) for line in out.splitlines() if line.startswith("  ")]
    return {label.strip(): value for label, value in rows}


@pytest.mark.parametrize(
    ("role", "table"),
    [("champion", "simulation"), ("challenger", "simulation_challenger")],
)
def test_report_renders_the_roles_whole_track_record(home, track_lake, capsys, role, table):
    argv = ["report"] if role == "champion" else ["report", "--role", role]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    page = home / "reports" / role / "2025-03-03_2025-03-16" / "index.html"
    assert out[-1] == str(page) and page.exists()
    assert (page.parent / "weights.png").exists()
    assert out[0] == (
        f"{role} (demo profile): out-of-sample track record, 2025-03-03 to 2025-03-14, net of costs"
    )
    expected = ledger_metrics(track_lake[table])
    shown = _headline_lines("\n".join(out))
    assert shown["total return"] == format_metric("total_return", expected["total_return"])
    assert shown["Sharpe (rf 0)"] == format_metric("sharpe", expected["sharpe"])
    assert shown["sessions"] == "10"
    assert "out-of-sample track record" in page.read_text()


def test_report_over_a_range(home, track_lake, capsys):
    assert main(["report", "--start", "2025-03-05", "--end", "2025-03-11"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith("reports/champion/2025-03-05_2025-03-11/index.html")
    record = track_lake["simulation"]
    inside = record.loc[record["date"].between("2025-03-05", "2025-03-11")]
    expected = ledger_metrics(inside)
    shown = _headline_lines("\n".join(out))
    assert shown["sessions"] == "5"  # Wed 5 .. Tue 11 March, the weekend is not a session
    assert shown["total return"] == format_metric("total_return", expected["total_return"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--start", "2025-04-01", "--end", "2025-04-30"], "no champion session in"),
        (["report", "--start", "2025-03-08", "--end", "2025-03-09"], "no champion session in"),
    ],
    ids=["outside", "weekend-only"],
)
def test_report_without_a_record_in_range_is_one_line_exit_1(
    home, track_lake, capsys, argv, message
):
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "2025-03-03..2025-03-16" in err[0]
    assert captured.out == "" and not (home / "reports").exists()


def test_report_before_any_run_is_one_line_exit_1(home, capsys):
    assert main(["report", "--role", "challenger"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no challenger track record yet" in err[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--start", "5 March"], "expected YYYY-MM-DD"),
        (["report", "--start", "2025-03-10", "--end", "2025-03-05"], "is after end"),
        (["report", "--profile", "nosuch"], "unknown profile"),
    ],
    ids=["bad-date", "reversed", "unknown-profile"],
)
def test_report_bad_input_is_one_line_exit_2(home, track_lake, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_report_of_a_record_breaking_the_contract_is_one_line(home, track_lake, capsys):
    day = pd.DatetimeIndex(["2025-03-17"]).as_unit("ns")
    late = _track_record(day, np.array([0.01])).assign(decided_on=day)  # decided on the day
    _write_days(str(home / "lake"), "simulation", late)
    assert main(["report", "--start", "2025-03-17"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 1 sessions earn a book decided on or after" in err[0]


@pytest.mark.slow
def test_backfill_then_report_an_out_of_sample_record_rebuilt_from_the_lake(home, capsys):
    """After `tvs backfill`, the stored ledger is the stored decisions traded on the next
    day's returns net of costs: the simulator rebuilds every day of it from the lake."""
    from tvs_pipeline.config import load_profile
    from tvs_pipeline.defs.carry import session_returns
    from tvs_pipeline.lake.catalog import LakeReader
    from tvs_pipeline.settings import load_settings
    from tvs_pipeline.simulation import FrictionModel, simulate
    from tvs_pipeline.simulation.track_record import session_matrix, stored_decisions

    assert main(["backfill", "--start", "2026-06-01", "--end", "2026-06-30"]) == 0
    capsys.readouterr()
    assert main(["report"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].endswith("index.html") and "2026-06-01_2026-06-30" in out[-1]
    settings = load_settings()
    reader = LakeReader(settings.lake_root)
    ledger = reader.read("simulation").sort_values("date").set_index("date")
    books = reader.read("allocation")
    decisions = stored_decisions(books)
    days = pd.date_range(decisions.index[0], "2026-06-30", freq="D")
    returns = session_matrix(session_returns(reader, list(days.date)), days)
    returns = returns.reindex(columns=returns.columns.union(decisions.columns))
    friction = FrictionModel.from_config(load_profile(settings.profile).simulation)
    sleeves = books.loc[books["kind"] == "physical"].drop_duplicates("symbol")
    rates = friction.borrow_rates(sleeves.set_index("symbol")["sleeve"])
    rebuilt = simulate(decisions, returns, friction=friction, borrow_bps_per_year=rates)
    assert len(rebuilt) == 29 and ledger["turnover"].gt(0).sum() >= 2  # a rebalance after entry
    pd.testing.assert_series_equal(
        rebuilt["net"],
        ledger["net"].loc[rebuilt.index],
        check_names=False,
        check_freq=False,
        atol=1e-12,
        rtol=0,
    )
    assert ledger.loc["2026-06-01", "gross_exposure"] == 0.0  # nothing decided before day 1


# ---------------------------------------------------------------- tvs ledger


def _ledger(home, records=3):
    ledger = home / "ledger" / "audit.jsonl"
    for i in range(records):
        append_record(ledger, "output", {"asset": "x", "rows": i})
    return ledger


def _tear(ledger, cut=30):
    """The last line cut mid-JSON, no newline: a kill or a full disk mid-append."""
    ledger.write_bytes(ledger.read_bytes()[: -cut - 1])


def test_ledger_verify_shows_a_torn_tail_that_the_next_append_moves_aside(home, capsys):
    ledger = _ledger(home)
    _tear(ledger)
    assert main(["ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert "ledger torn: 2 records, chain intact, then an incomplete last line" in out
    append_run_outcome(ledger, "r1", "nightly", {})  # what a run's first append does
    assert main(["ledger", "verify"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ledger ok: 4 records, chain intact"
    assert out[1].startswith("  repair at record 2: a torn tail of ")
    assert "moved aside to audit.jsonl.torn-" in out[1]


def test_ledger_repair_moves_a_torn_tail_aside_and_rebuilds_the_index(home, capsys):
    ledger = _ledger(home)
    _tear(ledger)
    assert main(["ledger", "repair"]) == 0
    out = capsys.readouterr().out
    assert "moved a torn tail of" in out and "aside to audit.jsonl.torn-" in out
    assert "lake index rebuilt from the ledger" in out and "ledger ok: 3 records" in out
    assert main(["ledger", "repair"]) == 0  # nothing left to repair
    assert "moved a torn tail" not in capsys.readouterr().out


def test_ledger_repair_refuses_a_record_broken_in_the_middle(home, capsys):
    ledger = _ledger(home)
    raw = bytearray(ledger.read_bytes())
    raw[raw.index(b"\n") + 9] ^= 0x01
    ledger.write_bytes(bytes(raw))
    before = ledger.read_bytes()
    assert main(["ledger", "repair"]) == 1
    out = capsys.readouterr().out
    assert "ledger broken at record 1 (line 2)" in out and "not repaired" in out
    assert ledger.read_bytes() == before


def test_ledger_verify_lake_names_each_problem_and_exits_1(home, capsys):
    lake, ledger = home / "lake", home / "ledger" / "audit.jsonl"
    days = ["2026-06-29", "2026-06-30"]
    for day in days:
        write_parquet_atomic(pd.DataFrame({"x": [1.0, 2.0]}), partition_path(str(lake), "a", day))
        digest = hashlib.sha256(Path(partition_path(str(lake), "a", day)).read_bytes())
        files = {day: {"sha256": digest.hexdigest(), "rows": 2}}
        append_record(ledger, "output", {"asset": "a", "files": files})
    assert main(["ledger", "verify", "--lake"]) == 0
    assert "lake ok: 2 partition files match" in capsys.readouterr().out
    target = Path(partition_path(str(lake), "a", days[1]))
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    write_parquet_atomic(pd.DataFrame({"x": [3.0]}), partition_path(str(lake), "b", days[0]))
    assert main(["ledger", "verify", "--lake"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ledger ok:") and out[1].startswith("lake: 2 problem(s)")
    assert f"{target}: partition file does not match its latest output record" in out[2]
    assert "b/date=2026-06-29/part.parquet: partition file has no output record" in out[3]
    assert main(["ledger", "verify", "--lake", "--rehash"]) == 1


@pytest.mark.slow
def test_a_flipped_byte_in_bars_is_named_by_verify_and_refused_by_a_run(home, capsys):
    """Issue 18, 4: a byte flipped in a bars file read back as changed prices, silently."""
    assert main(["run", "--date", "2026-06-30"]) == 0
    target = home / "lake" / "bars" / "date=2026-06-30" / "part.parquet"
    recorded = hashlib.sha256(target.read_bytes()).hexdigest()
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 3] ^= 0x10
    target.write_bytes(bytes(raw))
    found = hashlib.sha256(bytes(raw)).hexdigest()
    capsys.readouterr()
    assert main(["ledger", "verify", "--lake"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("lake: 1 problem(s)")
    assert out[2] == (
        f"  {target}: partition file does not match its latest output record: expected "
        f"sha256 {recorded} (ledger record {_latest_bars_record(home)}), found {found}"
    )
    assert main(["run", "--date", "2026-07-01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
    assert err[-1].startswith("tvs: error: ") and str(target) in err[-1]
    assert f"expected sha256 {recorded}" in err[-1] and f"found {found}" in err[-1]
    assert "✗ bars" in err[-2]  # bars reads its own past first: nothing was fetched
    assert not (home / "lake" / "bars" / "date=2026-07-01").exists()


def _latest_bars_record(home):
    records = read_records(home / "ledger" / "audit.jsonl")
    return max(
        r["seq"]
        for r in records
        if r["kind"] == "output"
        and "2026-06-30" in r["payload"].get("files", {})
        and r["payload"]["asset"] == "bars"
    )
