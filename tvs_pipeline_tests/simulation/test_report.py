"""The daily Markdown tear sheet and its atomic write."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tvs_pipeline.simulation.report import (
    render_report,
    report_day,
    report_path,
    write_text_atomic,
)

DAY = date(2025, 6, 30)


def ledger() -> pd.DataFrame:
    """Equity on a few days across three month ends (Apr, May, Jun 2025)."""
    return pd.DataFrame(
        {
            "market_date": pd.to_datetime(
                ["2025-04-29", "2025-04-30", "2025-05-15", "2025-05-30", "2025-06-30"]
            ),
            "net_return": [0.0, 0.01, -0.02, 0.005, 0.01],
            "equity": [1.0, 1.01, 0.9898, 0.994749, 1.00469649],
        }
    )


def allocation() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": ["atom", "atom", "physical", "physical"],
            "symbol": ["A|LONG", "B|SHORT", "A", "B"],
            "weight": [0.6, 0.4, None, None],
            "net_weight": [None, None, 0.6, -0.4],
        }
    )


def selection() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": ["A", "B", "C"],
            "sleeve": ["crypto", "crypto", "eq"],
            "direction": ["LONG", "SHORT", "LONG"],
            "selected": [True, True, False],
            "score": [0.8123, 0.5, 0.1],
        }
    )


def test_the_tear_sheet_by_hand():
    summary = {"total_return": 0.0469649, "sharpe": 1.23456, "max_drawdown": float("nan")}
    text = render_report(DAY, summary, ledger(), allocation(), selection())
    lines = text.splitlines()
    assert lines[0] == "# tvs_pipeline report — as of 2025-06-30"
    # returns as percentages with two decimals, ratios with three, a missing value as n/a
    assert "| total_return | 4.70% |" in lines
    assert "| sharpe | 1.235 |" in lines
    assert "| max_drawdown | n/a |" in lines
    # the physical book only, largest weight first: A 0.6000 then B -0.4000
    weights = text.split("## Target weights for the next session")[1].split("##")[0]
    assert "A|LONG" not in weights
    assert weights.index("0.6000") < weights.index("-0.4000")
    assert "## Selected (2 of 3 candidates)" in lines
    assert "0.812" in text and "| C " not in text
    # month ends: the last equity of April, May and June
    months = text.split("## Equity, month ends (last 12)")[1].strip().splitlines()[2:]
    assert months == ["| 2025-04 | 1.0100 |", "| 2025-05 | 0.9947 |", "| 2025-06 | 1.0047 |"]
    assert text.endswith("\n")


def test_an_empty_day_says_so():
    empty_selection = pd.DataFrame(columns=["symbol", "selected"])
    text = render_report(DAY, {}, pd.DataFrame(), pd.DataFrame(), empty_selection)
    assert "_no positions_" in text
    assert "## Selected (0 of 0 candidates)" in text
    assert "Equity, month ends" not in text


def test_only_the_last_twelve_month_ends_are_shown():
    days = pd.date_range("2024-01-31", periods=18, freq="ME")
    long = pd.DataFrame({"market_date": days, "equity": range(1, 19)})
    text = render_report(DAY, {}, long, allocation(), selection())
    months = text.split("## Equity, month ends (last 12)")[1].strip().splitlines()[2:]
    assert len(months) == 12
    assert months[0] == "| 2024-07 | 7.0000 |" and months[-1] == "| 2025-06 | 18.0000 |"


def test_write_text_atomic_creates_folders_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "reports" / "2025-06-30" / "report.md"
    write_text_atomic(path, "first\n")
    write_text_atomic(path, "second — ü\n")
    assert path.read_text(encoding="utf-8") == "second — ü\n"
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]


def test_write_text_atomic_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "report.md"
    write_text_atomic(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "bad \udcff surrogate\n")
    assert path.read_text(encoding="utf-8") == "old\n"


def test_report_path_is_one_folder_per_day(tmp_path):
    assert report_path(tmp_path, DAY) == tmp_path / "2025-06-30" / "report.md"
    assert report_path(str(tmp_path), DAY, "x.md") == tmp_path / "2025-06-30" / "x.md"


@pytest.mark.parametrize(("calendar", "periods"), [("24/7", 365), ("XNYS", 252)])
def test_report_day_writes_the_sheet_and_returns_the_metrics(tmp_path, calendar, periods):
    days = ledger()
    days = days.assign(turnover=[1.0, 0.0, 0.0, 0.2, 0.0], exposure=1.0)
    atoms = pd.DataFrame({"atom_id": ["A|LONG"], "calendar": [calendar]})
    out = report_day(days, atoms, allocation(), selection(), DAY, tmp_path)
    assert list(out.columns) == ["metric", "value", "report_path"]
    metrics = dict(zip(out["metric"], out["value"], strict=True))
    total = 1.0 * 1.01 * 0.98 * 1.005 * 1.01 - 1  # the net returns compounded by hand
    assert metrics["total_return"] == pytest.approx(total, rel=1e-12)
    assert metrics["annual_return"] == pytest.approx((1 + total) ** (periods / 5) - 1, rel=1e-12)
    path = tmp_path / "2025-06-30" / "report.md"
    assert set(out["report_path"]) == {str(path)}
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# tvs_pipeline report — as of 2025-06-30")
    assert f"| total_return | {total:.2%} |" in text
