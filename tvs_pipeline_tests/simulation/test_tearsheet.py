"""Tests of the tear sheet: files, headline numbers by hand, monthly table, weights, errors."""

from __future__ import annotations

import base64
import io
import math
import statistics
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tvs_pipeline.errors import DataError, LookAheadError
from tvs_pipeline.simulation.metrics import LEDGER_METRIC_KEYS, ledger_metrics
from tvs_pipeline.simulation.tearsheet import (
    CHARTS,
    format_metric,
    monthly_returns,
    render_tearsheet,
    weight_layers,
)


def _ledger(days, net, universe, session, turnover, cost, gross, net_exposure, decided_on):
    """A track-record ledger following the simulation contract."""
    net, cost = np.asarray(net, dtype=float), np.asarray(cost, dtype=float)
    gross_exposure = np.asarray(gross, dtype=float)
    net_exposure = np.asarray(net_exposure, dtype=float)
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(days).as_unit("ns"),
            "gross": net + cost,
            "trading_cost": cost,
            "borrow": np.zeros(len(net)),
            "cost": cost,
            "net": net,
            "turnover": np.asarray(turnover, dtype=float),
            "equity": np.cumprod(1.0 + net),
            "long_exposure": (gross_exposure + net_exposure) / 2,
            "short_exposure": (net_exposure - gross_exposure) / 2,
            "gross_exposure": gross_exposure,
            "net_exposure": net_exposure,
            "session": np.asarray(session, dtype=bool),
            "rebalanced": np.asarray(session, dtype=bool),
            "universe_return": np.asarray(universe, dtype=float),
            "decided_on": pd.DatetimeIndex(decided_on).as_unit("ns"),
        }
    )


def _tiny():
    """Thu 30 Jan .. Tue 4 Feb 2025: four weekday sessions around a weekend without one."""
    days = pd.date_range("2025-01-30", "2025-02-04", freq="D")
    nan = np.nan
    return _ledger(
        days,
        net=[0.02, -0.01, 0.0, 0.0, 0.03, -0.005],
        universe=[0.01, 0.0, nan, nan, 0.02, nan],
        session=[True, True, False, False, True, True],
        turnover=[1.0, 0.1, 0.0, 0.0, 0.2, 0.0],
        cost=[0.001, 0.0001, 0.0, 0.0, 0.0002, 0.00005],
        gross=[1.0, 1.0, 0.0, 0.0, 1.2, 1.2],
        net_exposure=[0.5, 0.5, 0.0, 0.0, 0.4, 0.4],
        decided_on=["2025-01-29", "2025-01-30", "2025-01-31", "2025-01-31", "2025-01-31",
                    "2025-02-03"],
    )  # fmt: skip


def _weights():
    """Three books over 12 listings: 10 named in the chart, the last two as "other"."""
    rows = []
    for day, sign in (("2025-01-29", 1.0), ("2025-01-31", 1.0), ("2025-02-03", -1.0)):
        for i in range(12):
            weight = (0.12 - 0.01 * i) * (sign if i == 11 else 1.0) * (-1.0 if i == 3 else 1.0)
            rows.append({"date": pd.Timestamp(day), "symbol": f"X:S{i:02d}", "net_weight": weight})
    return pd.DataFrame(rows)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def _assert_png(data: bytes, size=None):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.verify()
    if size is not None:
        assert image.size == size


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The tiny ledger's tear sheet, rendered once for the tests that only read it."""
    ledger, weights = _tiny(), _weights()
    directory = tmp_path_factory.mktemp("sheet") / "out"
    sheet = render_tearsheet(ledger, weights, title="demo champion", directory=directory)
    return sheet, ledger, weights, directory


# ---------------------------------------------------------------- files


def test_tearsheet_writes_valid_pngs_and_page(rendered):
    sheet, ledger, weights, directory = rendered
    pd.testing.assert_frame_equal(ledger, _tiny())  # inputs unchanged
    pd.testing.assert_frame_equal(weights, _weights())
    assert tuple(sheet.pngs) == CHARTS
    for name, path in sheet.pngs.items():
        assert path == directory / f"{name}.png"
        _assert_png(path.read_bytes())
    assert sheet.html == directory / "index.html"
    page = _Page()
    page.feed(sheet.html.read_text(encoding="utf-8"))
    assert {"html", "head", "title", "body", "table"} <= set(page.tags)
    assert page.images == [f"{name}.png" for name in CHARTS]  # relative to the page
    text = " ".join(page.text)
    assert "demo champion — out-of-sample track record, 2025-01-30 to 2025-02-04" in text
    assert format_metric("sharpe", sheet.headline["sharpe"]) in text
    assert format_metric("total_return", sheet.headline["total_return"]) in text
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["index.html", *(f"{name}.png" for name in CHARTS)]
    )  # no temporary file left behind


def test_a_caveat_heads_the_page_and_the_markdown_escaped(tmp_path):
    caveat = "2 days discovered point in time: listings delisted <before> today are absent"
    sheet = render_tearsheet(_tiny(), None, title="a", directory=tmp_path, caveat=caveat)
    page = sheet.html.read_text(encoding="utf-8")
    escaped = "listings delisted &lt;before&gt; today"
    # Above the headline table: a reader meets it before any number.
    assert escaped in page and page.index(escaped) < page.index("<table>")
    assert sheet.markdown.splitlines()[0] == f"**{caveat}**"
    plain = render_tearsheet(_tiny(), None, title="a", directory=tmp_path / "plain")
    assert "caveat" not in plain.html.read_text(encoding="utf-8").split("</style>")[1]
    assert plain.markdown.startswith("**a — out-of-sample")


def test_tearsheet_rerender_replaces_the_files(tmp_path):
    first = render_tearsheet(_tiny(), None, title="a", directory=tmp_path)
    second = render_tearsheet(_tiny(), _weights(), title="b", directory=tmp_path)
    assert first.html == second.html and "b — out-of-sample" in second.html.read_text()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_markdown_has_the_headline_and_a_small_equity_png(rendered):
    sheet = rendered[0]
    head, image = sheet.markdown.split("![equity](data:image/png;base64,")
    assert "out-of-sample track record, 2025-01-30 to 2025-02-04" in head
    assert "| metric | value |" in head
    assert f"| Sharpe (rf 0) | {format_metric('sharpe', sheet.headline['sharpe'])} |" in head
    assert image.endswith(")")
    _assert_png(base64.b64decode(image[:-1]), size=(700, 350))


@pytest.mark.parametrize(
    "weights",
    [None, pd.DataFrame(columns=["date", "symbol", "net_weight"])],
    ids=["none", "empty"],
)
def test_tearsheet_without_weights_still_draws_every_chart(tmp_path, weights):
    sheet = render_tearsheet(_tiny(), weights, title="t", directory=tmp_path)
    for path in sheet.pngs.values():
        _assert_png(path.read_bytes())


def test_tearsheet_of_a_single_session(tmp_path):
    ledger = _tiny().iloc[:1]
    sheet = render_tearsheet(ledger, None, title="t", directory=tmp_path)
    assert sheet.headline["n_periods"] == 1 and math.isnan(sheet.headline["sharpe"])
    assert "n/a" in sheet.html.read_text()


# ---------------------------------------------------------------- numbers


def test_headline_equals_hand_computed_ledger_metrics(rendered):
    sheet = rendered[0]
    assert sheet.headline == ledger_metrics(_tiny())
    assert tuple(sheet.headline) == LEDGER_METRIC_KEYS
    # By hand over the four sessions (the weekend rows are not sessions); 4 sessions are
    # too few for a rate and none is on a weekend, so P = 252.
    r, p = [0.02, -0.01, 0.03, -0.005], 252.0
    growth = 1.02 * 0.99 * 1.03 * 0.995
    annual = growth ** (p / 4) - 1
    vol = statistics.stdev(r) * math.sqrt(p)
    mean = statistics.fmean(r)
    downside = math.sqrt((0.01**2 + 0.005**2) / 4) * math.sqrt(p)
    max_dd = -0.01  # 1.02 -> 1.0098
    expected = {
        "total_return": growth - 1,
        "annual_return": annual,
        "annual_volatility": vol,
        "sharpe": mean * p / vol,
        "sortino": mean * p / downside,
        "calmar": annual / 0.01,
        "max_drawdown": max_dd,
        "cvar_95": -0.01,
        "hit_rate": 0.5,
        "n_periods": 4,
        "turnover_annual": 1.3 / 4 * p,
        "cost_drag": 0.00135 / 4 * p,
        "avg_gross_exposure": 1.1,
        "avg_net_exposure": 0.45,
        "periods_per_year": p,
        # The universe is known on three sessions (Tuesday's is NaN).
        "selection_alpha": (0.01 - 0.01 + 0.01) / 3 * p,
        "benchmark_annual_return": (1.01 * 1.0 * 1.02) ** (p / 3) - 1,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(sheet.headline[key], value, rtol=1e-12, err_msg=key)


def test_non_session_rows_are_excluded(tmp_path):
    ledger = _tiny()
    noisy = ledger.copy()
    off = ~noisy["session"]
    noisy.loc[off, "net"] = 0.5
    noisy.loc[off, ["turnover", "cost", "universe_return"]] = [9.0, 1.0, 0.3]
    sessions_only = ledger.loc[ledger["session"]]
    got = render_tearsheet(noisy, None, title="t", directory=tmp_path)
    assert got.headline == ledger_metrics(sessions_only)
    assert "2025-01-30 to 2025-02-04" in got.html.read_text()
    pd.testing.assert_frame_equal(monthly_returns(noisy), monthly_returns(sessions_only))


def test_monthly_returns_of_the_tiny_ledger():
    table = monthly_returns(_tiny())
    assert list(table.index) == [2025] and list(table.columns) == list(range(1, 13))
    np.testing.assert_allclose(table.loc[2025, 1], 1.02 * 0.99 - 1, rtol=1e-12)
    np.testing.assert_allclose(table.loc[2025, 2], 1.03 * 0.995 - 1, rtol=1e-12)
    assert table.loc[2025, 3:].isna().all()


def test_monthly_returns_equal_hand_compounded_months():
    days = pd.date_range("2024-11-20", periods=120, freq="D")
    rng = np.random.default_rng(2)
    net = rng.normal(0.0, 0.01, 120)
    session = days.day_of_week < 5
    net[~session] = 0.0
    ledger = _ledger(days, net, net / 2, session, np.zeros(120), np.zeros(120), np.ones(120),
                     np.ones(120), days - pd.Timedelta(days=1))  # fmt: skip
    shuffled = ledger.sample(frac=1.0, random_state=0)
    table = monthly_returns(shuffled)
    expected = {}
    for day, r, is_session in zip(days, net, session, strict=True):
        if is_session:
            key = (day.year, day.month)
            expected[key] = expected.get(key, 1.0) * (1.0 + r)
    assert list(table.index) == [2024, 2025]
    for (year, month), growth in expected.items():
        np.testing.assert_allclose(table.loc[year, month], growth - 1, rtol=1e-12)
    assert int(table.notna().sum().sum()) == len(expected) == 5  # Nov 2024 .. Mar 2025


def test_weight_layers_name_the_top_listings_and_sum_the_rest():
    weights = _weights()
    longs, shorts = weight_layers(weights, top=10)
    named = [f"X:S{i:02d}" for i in range(10)]
    assert list(longs.columns) == [*named, "other"] == list(shorts.columns)
    assert (longs >= 0).all().all() and (shorts <= 0).all().all()
    # X:S11 is long in the first two books and short in the third: "other" splits by side.
    np.testing.assert_allclose(longs["other"].to_numpy(), [0.02 + 0.01, 0.02 + 0.01, 0.02])
    np.testing.assert_allclose(shorts["other"].to_numpy(), [0.0, 0.0, -0.01])
    np.testing.assert_allclose(shorts["X:S03"].to_numpy(), [-0.09] * 3)
    book = weights.pivot_table(index="date", columns="symbol", values="net_weight")
    np.testing.assert_allclose((longs + shorts).sum(axis=1), book.sum(axis=1), rtol=1e-12)
    assert len(weight_layers(weights, top=3)[0].columns) == 4
    assert weight_layers(weights, top=20)[0].columns.tolist() == sorted(
        weights["symbol"].unique(), key=lambda s: -abs(book[s]).mean()
    )


def test_a_listing_missing_from_a_book_weighs_zero_there():
    weights = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-02", "2025-01-02", "2025-01-03"]),
            "symbol": ["A", "B", "A"],
            "net_weight": [0.6, 0.4, 1.0],
        }
    )
    longs, _ = weight_layers(weights)
    assert longs.loc["2025-01-03", "B"] == 0.0 and list(longs.columns) == ["A", "B"]


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("total_return", 0.1234, "12.34%"),
        ("max_drawdown", -0.05, "-5.00%"),
        ("cost_drag", 0.0021, "0.21%"),
        ("avg_net_exposure", 1.0, "100.00%"),
        ("selection_alpha", 0.03, "3.00%"),
        ("sharpe", 1.23456, "1.23"),
        ("turnover_annual", 12.345, "12.35"),
        ("n_periods", 252, "252"),
        ("periods_per_year", 252.17, "252.2"),
        ("sortino", math.nan, "n/a"),
    ],
)
def test_format_metric(key, value, text):
    assert format_metric(key, value) == text


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("ledger", "weights", "error", "match"),
    [
        (_tiny().assign(session=False), None, DataError, "none of 6 ledger rows is a session"),
        (_tiny().iloc[:0], None, DataError, "none of 0 ledger rows is a session"),
        (_tiny().drop(columns="decided_on"), None, DataError, r"lacks columns \['decided_on'\]"),
        (_tiny(), _weights().drop(columns="net_weight"), DataError, "weights lack columns"),
        (_tiny(), _weights().assign(net_weight=np.nan), DataError, "36 non-finite net_weight"),
        (_tiny().assign(decided_on=_tiny()["date"]), None, LookAheadError, "4 of 4 sessions earn"),
    ],
    ids=["no-session", "empty", "missing-column", "weights-column", "weights-nan", "look-ahead"],
)
def test_bad_input_raises_one_line_and_writes_nothing(tmp_path, ledger, weights, error, match):
    with pytest.raises(error, match=match) as info:
        render_tearsheet(ledger, weights, title="t", directory=tmp_path / "out")
    assert "\n" not in str(info.value) and str(info.value).startswith("tearsheet: ")
    assert not (tmp_path / "out").exists()


def test_render_leaderboard_draws_the_leaders_and_the_table(tmp_path):
    from tvs_pipeline.simulation.tearsheet import render_leaderboard

    days = pd.date_range("2026-01-01", periods=30, freq="D")
    board = pd.DataFrame(
        {
            "strategy": ["a/custom/hrp", "b/custom/hrp", "a/custom/hrp"],
            "simulator": ["vectorized", "vectorized", "cvxportfolio"],
            "sharpe": [1.5, 1.0, 1.5],
            "status": ["ok", "ok", "ok"],
        }
    )
    returns = pd.concat(
        pd.DataFrame({"strategy": name, "date": days, "net": 0.001})
        for name in ("a/custom/hrp", "b/custom/hrp")
    )
    page = render_leaderboard(board, returns, title="t <1>", directory=tmp_path / "t", top=1)
    assert page.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.html.read_text()
    assert "t &lt;1&gt;" in text and "b/custom/hrp" in text and "leaders.png" in text
    assert page.markdown.startswith("![leaders](data:image/png;base64,")
    with pytest.raises(DataError, match="no strategy has a net series"):
        render_leaderboard(board, returns.iloc[:0], title="t", directory=tmp_path / "u")
