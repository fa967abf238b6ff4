"""Tests of the performance metrics: by hand on tiny ledgers, and against empyrical."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.metrics import (
    LEDGER_METRIC_KEYS,
    METRIC_KEYS,
    drawdown,
    ledger_metrics,
    metrics,
    sessions_per_year,
)

# ---------------------------------------------------------------- drawdown


def test_drawdown_hand_series():
    equity = pd.Series([1.0, 1.2, 0.9, 1.1], index=list("abcd"))
    before = equity.copy()
    dd = drawdown(equity)
    pd.testing.assert_series_equal(equity, before)
    np.testing.assert_allclose(dd.to_numpy(), [0.0, 0.0, -0.25, 1.1 / 1.2 - 1], rtol=1e-12)
    assert dd.min() == pytest.approx(-0.25, rel=1e-12)
    assert list(dd.index) == list("abcd") and dd.name == "drawdown"


def test_drawdown_of_empty_series_is_empty():
    assert drawdown(pd.Series([], dtype=float)).empty


def test_drawdown_rejects_non_finite():
    with pytest.raises(DataError, match="drawdown: equity holds a non-finite value"):
        drawdown(pd.Series([1.0, np.nan]))


# ---------------------------------------------------------------- summary


def _hand_metrics(r: list[float], p: float) -> dict[str, float]:
    """Every metric re-derived with the standard library, one formula per line."""
    n = len(r)
    growth = math.prod(1 + x for x in r)
    annual = growth ** (p / n) - 1 if growth > 0 else -1.0
    vol = statistics.stdev(r) * math.sqrt(p)
    mean_annual = statistics.fmean(r) * p
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n) * math.sqrt(p)
    equity, peak, max_dd = 1.0, 1.0, 0.0
    for x in r:
        equity *= 1 + x
        peak = max(peak, equity)
        max_dd = min(max_dd, equity / peak - 1)
    k = math.ceil(round(0.05 * n, 9))
    moved = [x for x in r if x != 0]
    return {
        "total_return": growth - 1,
        "annual_return": annual,
        "annual_volatility": vol,
        "sharpe": mean_annual / vol,
        "sortino": mean_annual / downside,
        "calmar": annual / abs(max_dd),
        "max_drawdown": max_dd,
        "cvar_95": statistics.fmean(sorted(r)[:k]),
        "hit_rate": sum(x > 0 for x in moved) / len(moved),
    }


def test_metrics_hand_series():
    r = [0.10, -0.05, 0.0, 0.02, -0.01]
    series = pd.Series(r, index=pd.date_range("2025-01-06", periods=5, freq="D"))
    before = series.copy()
    out = metrics(series, periods_per_year=252.0)
    pd.testing.assert_series_equal(series, before)
    assert tuple(out) == METRIC_KEYS
    # The worst day is -5 %; 2 of the 4 days that moved were up; equity 1 -> 1.1 -> 1.045.
    assert out["cvar_95"] == -0.05 and out["hit_rate"] == 0.5
    np.testing.assert_allclose(out["max_drawdown"], 1.045 / 1.1 - 1, rtol=1e-12)
    for key, value in _hand_metrics(r, 252.0).items():
        np.testing.assert_allclose(out[key], value, rtol=1e-12, err_msg=key)
    assert out["n_periods"] == 5 and isinstance(out["n_periods"], int)


def test_metrics_random_series_matches_hand_formulas():
    r = np.random.default_rng(11).normal(0.0004, 0.012, 137)
    out = metrics(pd.Series(r), 260.9)
    for key, value in _hand_metrics(r.tolist(), 260.9).items():
        np.testing.assert_allclose(out[key], value, rtol=1e-10, err_msg=key)


def test_sortino_is_downside_against_zero_not_semi_deviation():
    # Every day is a gain: there is no shortfall below 0, so no downside deviation at all,
    # while the deviation of the days below the mean (semi-deviation) would be positive.
    out = metrics(pd.Series([0.01, 0.03, 0.02, 0.005]), 252)
    assert math.isnan(out["sortino"]) and out["sharpe"] > 0
    r = [0.02, -0.01, 0.03, -0.02]
    got = metrics(pd.Series(r), 252)["sortino"]
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)  # over all four days, target 0
    np.testing.assert_allclose(got, statistics.fmean(r) * 252 / (downside * math.sqrt(252)))


@pytest.mark.parametrize(
    ("r", "nan_keys"),
    [
        ([0.001] * 10, {"sharpe", "sortino", "calmar"}),
        ([0.0] * 5, {"sharpe", "sortino", "calmar", "hit_rate"}),
        ([0.01], {"annual_volatility", "sharpe", "sortino", "calmar"}),
        ([-0.01], {"annual_volatility", "sharpe"}),
    ],
    ids=["constant-gain", "flat", "one-gain", "one-loss"],
)
def test_metrics_zero_denominators_are_nan_never_inf(r, nan_keys):
    out = metrics(pd.Series(r), 252)
    assert {k for k, v in out.items() if math.isnan(v)} == nan_keys
    assert all(not math.isinf(v) for v in out.values())


def test_metrics_first_day_loss_and_wipe_out():
    assert metrics(pd.Series([-0.1, 0.05]), 252)["max_drawdown"] == pytest.approx(-0.1)
    out = metrics(pd.Series([0.05, -1.0, 0.0]), 252)
    assert out["total_return"] == -1.0 and out["annual_return"] == -1.0
    assert out["max_drawdown"] == -1.0


def test_metrics_periods_per_year_changes_annualised_numbers():
    r = pd.Series([0.01, -0.02, 0.015, 0.003])
    equity, crypto = metrics(r, 252), metrics(r, 365.25)
    assert equity["total_return"] == crypto["total_return"]
    assert equity["hit_rate"] == crypto["hit_rate"] and equity["cvar_95"] == crypto["cvar_95"]
    for key in ("annual_volatility", "sharpe", "sortino"):
        np.testing.assert_allclose(crypto[key] / equity[key], math.sqrt(365.25 / 252), err_msg=key)
    assert crypto["annual_return"] != equity["annual_return"]


@pytest.mark.parametrize(
    "periods",
    [0, -252, 0.0, math.nan, math.inf, True, "252", None],
    ids=["zero", "negative", "zero-float", "nan", "inf", "bool", "str", "none"],
)
def test_metrics_bad_periods_per_year_raises_config_error(periods):
    with pytest.raises(ConfigError, match=r"^metrics periods_per_year .*: expected a positive"):
        metrics(pd.Series([0.01, 0.02]), periods)


@pytest.mark.parametrize(
    ("r", "match"),
    [
        ([], r"^metrics: net returns are empty"),
        ([0.01, np.nan], r"^metrics: net returns hold 1 non-finite values"),
        ([np.inf, 0.01, -np.inf], r"^metrics: net returns hold 2 non-finite values"),
    ],
    ids=["empty", "nan", "inf"],
)
def test_metrics_bad_returns_raise_one_line_data_error(r, match):
    with pytest.raises(DataError, match=match) as info:
        metrics(pd.Series(r, dtype=float), 252)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- against empyrical


def _empyrical():
    return pytest.importorskip(
        "empyrical", reason="empyrical-reloaded (the dev extra) cross-checks the metrics"
    )


@pytest.mark.parametrize(
    ("n", "p", "seed"),
    [(30, 252, 0), (251, 252, 1), (365, 365, 2), (500, 260.9, 3), (21, 252, 4)],
    ids=["30d", "1y-equity", "1y-crypto", "500d-mixed", "21d"],
)
def test_metrics_agree_with_empyrical(n, p, seed):
    ep = _empyrical()
    r = np.random.default_rng(seed).normal(0.0003, 0.015, n)
    out = metrics(pd.Series(r), p)
    # Same definitions: Sharpe r̄/s·√P (ddof 1); Sortino with required_return 0 is
    # r̄·P / (√mean(min(r, 0)²)·√P) over all days; drawdown anchored at a starting 1.0;
    # annual return is the CAGR (1 + total)^(P/n) − 1.
    expected = {
        "total_return": ep.cum_returns_final(r),
        "annual_return": ep.cagr(r, annualization=p),
        "annual_volatility": ep.annual_volatility(r, annualization=p),
        "sharpe": ep.sharpe_ratio(r, annualization=p),
        "sortino": ep.sortino_ratio(r, required_return=0, annualization=p),
        "max_drawdown": ep.max_drawdown(r),
        "calmar": ep.calmar_ratio(r, annualization=p),
        "cvar_95": ep.conditional_value_at_risk(r, cutoff=0.05),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-10, err_msg=key)


def test_empyrical_downside_risk_is_against_zero_over_all_days():
    ep = _empyrical()
    r = np.array([0.02, -0.01, 0.03, -0.02])
    np.testing.assert_allclose(
        ep.downside_risk(r, required_return=0, annualization=1),
        math.sqrt((0.01**2 + 0.02**2) / 4),
        rtol=1e-12,
    )


@pytest.mark.parametrize("n", [1, 19, 20, 21, 39, 40, 41, 99, 100, 101, 252, 1000])
def test_cvar_tail_size_agrees_with_empyrical(n):
    # empyrical describes its CVaR as the mean below the 5th percentile, but it averages the
    # int((n − 1)·0.05) + 1 worst days, which equals our ⌈0.05·n⌉ for every n: the same tail.
    ep = _empyrical()
    r = np.random.default_rng(n).normal(0.0, 0.01, n)
    np.testing.assert_allclose(
        metrics(pd.Series(r), 252)["cvar_95"], ep.conditional_value_at_risk(r), rtol=1e-12
    )
    assert int((n - 1) * 0.05) + 1 == math.ceil(round(0.05 * n, 9))


def test_constant_gains_are_nan_here_where_empyrical_gives_inf():
    # A documented difference: with no dispersion (or no loss) empyrical's Sharpe and
    # Sortino are +inf; ours are NaN, so a table or a chart never shows an infinity.
    ep = _empyrical()
    r = np.full(10, 0.001)
    assert math.isinf(ep.sharpe_ratio(r)) and math.isinf(ep.sortino_ratio(r))
    out = metrics(pd.Series(r), 252)
    assert math.isnan(out["sharpe"]) and math.isnan(out["sortino"])


# ---------------------------------------------------------------- sessions per year


def test_sessions_per_year_nyse_2024():
    xc = pytest.importorskip("exchange_calendars")
    sessions = xc.get_calendar("XNYS").sessions_in_range("2024-01-01", "2024-12-31")
    assert len(sessions) == 252  # 2024-01-02 .. 2024-12-31: 365 calendar days
    got = sessions_per_year(sessions)
    assert got == pytest.approx(252 / (365 / 365.25), rel=1e-12)
    assert 251 < got < 253
    assert sessions_per_year(pd.Series(sessions)) == got  # a Series reads as the index


def test_sessions_per_year_all_days_is_about_365():
    days = pd.date_range("2025-01-01", "2025-12-31", freq="D")
    assert sessions_per_year(days) == pytest.approx(365 / (365 / 365.25), rel=1e-12)


def test_sessions_per_year_mixed_book_counts_its_sessions():
    xc = pytest.importorskip("exchange_calendars")
    nyse = xc.get_calendar("XNYS").sessions_in_range("2024-01-01", "2024-12-31")
    every_day = pd.date_range("2024-01-01", "2024-12-31", freq="D")
    weekends = every_day[every_day.day_of_week >= 5]
    mixed = nyse.union(weekends)  # crypto trades the weekends, nobody the weekday holidays
    assert mixed[0] == pd.Timestamp("2024-01-02")  # Monday 1 January is a holiday
    got = sessions_per_year(mixed)
    assert got == pytest.approx(len(mixed) / (365 / 365.25), rel=1e-12)
    assert 252 < got < 365


def test_sessions_per_year_ignores_order_and_duplicates():
    days = pd.bdate_range("2025-01-01", periods=60)
    shuffled = pd.Series(np.random.default_rng(0).permutation(days.append(days[:5])))
    assert sessions_per_year(shuffled) == sessions_per_year(days)


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (pd.bdate_range("2025-03-03", periods=10), 252.0),
        (pd.date_range("2025-03-03", periods=10, freq="D"), 365.0),
        (pd.bdate_range("2025-03-03", periods=19), 252.0),  # 19 sessions over 25 days
        (pd.date_range("2025-03-03", periods=27, freq="D"), 365.0),  # 27 over 27 days
        (pd.date_range("2025-03-01", periods=2, freq="D"), 365.0),  # a Saturday and Sunday
        (pd.DatetimeIndex(["2025-03-04"]), 252.0),
    ],
    ids=["10-weekdays", "10-days", "19-weekdays", "27-days", "weekend-only", "one-day"],
)
def test_sessions_per_year_falls_back_on_short_records(dates, expected):
    assert sessions_per_year(dates) == expected


def test_sessions_per_year_uses_the_rate_from_20_sessions_and_28_days():
    every_other = pd.date_range("2025-03-03", periods=20, freq="2D")  # 20 sessions over 39 days
    assert sessions_per_year(every_other) == pytest.approx(20 / (39 / 365.25), rel=1e-12)
    weekdays = pd.bdate_range("2025-03-03", periods=20)  # 20 over 26 days: too short
    assert sessions_per_year(weekdays) == 252.0
    weekdays = pd.bdate_range("2025-03-03", periods=25)  # Mon 3 Mar .. Fri 4 Apr: 33 days
    assert sessions_per_year(weekdays) == pytest.approx(25 / (33 / 365.25), rel=1e-12)


@pytest.mark.parametrize(
    ("dates", "match"),
    [
        (pd.DatetimeIndex([]), "no session date"),
        (pd.Series([pd.Timestamp("2025-01-02"), pd.NaT]), "a session date is missing"),
    ],
    ids=["empty", "nat"],
)
def test_sessions_per_year_bad_dates_raise_data_error(dates, match):
    with pytest.raises(DataError, match=match):
        sessions_per_year(dates)


# ---------------------------------------------------------------- ledger metrics


def _track_record(net, universe, session, turnover=None, cost=None, start="2025-03-03"):
    """A track-record ledger following the simulation contract (one row per day)."""
    n = len(net)
    net = np.asarray(net, dtype=float)
    cost = np.zeros(n) if cost is None else np.asarray(cost, dtype=float)
    session = np.asarray(session, dtype=bool)
    gross_exposure = np.where(session, 1.0 + 0.1 * np.arange(n), 0.0)
    net_exposure = np.where(session, 0.2, 0.0)
    return pd.DataFrame(
        {
            "date": pd.date_range(start, periods=n, freq="D").as_unit("ns"),
            "gross": net + cost,
            "trading_cost": cost,
            "borrow": np.zeros(n),
            "cost": cost,
            "net": net,
            "turnover": np.zeros(n) if turnover is None else np.asarray(turnover, dtype=float),
            "equity": np.cumprod(1.0 + net),
            "long_exposure": (gross_exposure + net_exposure) / 2,
            "short_exposure": (net_exposure - gross_exposure) / 2,
            "gross_exposure": gross_exposure,
            "net_exposure": net_exposure,
            "session": session,
            "rebalanced": session,
            "universe_return": np.asarray(universe, dtype=float),
            "decided_on": pd.date_range(start, periods=n, freq="D").as_unit("ns")
            - pd.Timedelta(days=1),
        }
    )


def test_ledger_metrics_hand_ledger_excludes_non_sessions():
    # Mon 3 .. Sun 9 March 2025: sessions on the weekdays, the weekend rows are not sessions.
    ledger = _track_record(
        net=[0.01, -0.02, 0.0, 0.03, 0.005, 0.0, 0.0],
        universe=[0.005, -0.01, np.nan, 0.01, 0.0, np.nan, np.nan],
        session=[True, True, True, True, True, False, False],
        turnover=[1.0, 0.1, 0.0, 0.2, 0.0, 0.0, 0.0],
        cost=[0.001, 0.0002, 0.0, 0.0004, 0.0, 0.0, 0.0],
    )
    before = ledger.copy()
    out = ledger_metrics(ledger)
    pd.testing.assert_frame_equal(ledger, before)
    assert tuple(out) == LEDGER_METRIC_KEYS
    p = 252.0  # 5 weekday sessions: too few for a rate, and no weekend session
    net = [0.01, -0.02, 0.0, 0.03, 0.005]
    for key, value in _hand_metrics(net, p).items():
        np.testing.assert_allclose(out[key], value, rtol=1e-12, err_msg=key)
    assert out["n_periods"] == 5 and out["periods_per_year"] == p
    # The universe is known on 4 sessions (not Wednesday's NaN).
    excess = [0.01 - 0.005, -0.02 + 0.01, 0.03 - 0.01, 0.005 - 0.0]
    benchmark = (1.005 * 0.99 * 1.01 * 1.0) ** (p / 4) - 1
    expected = {
        "turnover_annual": 1.3 / 5 * p,
        "cost_drag": 0.0016 / 5 * p,
        "avg_gross_exposure": (1.0 + 1.1 + 1.2 + 1.3 + 1.4) / 5,
        "avg_net_exposure": 0.2,
        "selection_alpha": sum(excess) / 4 * p,
        "benchmark_annual_return": benchmark,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-12, err_msg=key)


def test_ledger_metrics_ignores_whatever_non_session_rows_hold():
    session = [True] * 4 + [False] * 3
    ledger = _track_record([0.01, -0.01, 0.02, 0.0, 0, 0, 0], [0.0] * 4 + [np.nan] * 3, session)
    noisy = ledger.copy()
    off = ~noisy["session"]
    noisy.loc[off, ["net", "cost", "turnover", "gross_exposure"]] = [0.5, np.nan, 9.0, np.inf]
    assert ledger_metrics(noisy) == ledger_metrics(ledger)


def test_ledger_metrics_periods_from_the_sessions_present():
    # 60 days of every day (weekends trade) against the same returns on weekdays only.
    n = 60
    r = np.random.default_rng(5).normal(0.001, 0.01, n)
    every_day = _track_record(r, r / 2, [True] * n)
    out = ledger_metrics(every_day)
    np.testing.assert_allclose(out["periods_per_year"], 365.25, rtol=1e-12)
    np.testing.assert_allclose(out["sharpe"], metrics(pd.Series(r), 365.25)["sharpe"])
    weekday = every_day["date"].dt.day_of_week < 5
    weekdays = every_day.assign(session=weekday, net=every_day["net"].where(weekday, 0.0))
    got = ledger_metrics(weekdays)["periods_per_year"]
    assert got == pytest.approx(weekday.sum() / (60 / 365.25), rel=1e-12)
    assert 250 < got < 270


def test_ledger_metrics_row_order_does_not_matter():
    ledger = _track_record([0.01, -0.02, 0.03, 0.004], [0.0, 0.01, -0.01, 0.0], [True] * 4)
    shuffled = ledger.iloc[[2, 0, 3, 1]]
    got, want = ledger_metrics(shuffled), ledger_metrics(ledger)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, err_msg=key)


def test_ledger_metrics_without_a_known_universe_return_has_nan_alpha():
    ledger = _track_record([0.01, 0.02], [np.nan, np.nan], [True, True])
    out = ledger_metrics(ledger)
    assert math.isnan(out["selection_alpha"]) and math.isnan(out["benchmark_annual_return"])
    assert out["total_return"] == pytest.approx(1.01 * 1.02 - 1)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.drop(columns="universe_return"), r"lacks columns \['universe_return'\]"),
        (lambda f: f.assign(session=False), "none of 3 ledger rows is a session"),
        (lambda f: f.iloc[:0], "none of 0 ledger rows is a session"),
        (lambda f: f.assign(net=[0.01, np.nan, 0.0]), r"non-finite values in \['net'\]"),
    ],
    ids=["missing-column", "no-session", "empty", "nan-net"],
)
def test_ledger_metrics_bad_ledger_raises_one_line_data_error(change, match):
    ledger = change(_track_record([0.01, 0.02, 0.0], [0.0, 0.0, 0.0], [True] * 3))
    with pytest.raises(DataError, match=match) as info:
        ledger_metrics(ledger)
    assert "\n" not in str(info.value) and str(info.value).startswith("ledger_metrics: ")
