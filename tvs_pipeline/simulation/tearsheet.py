"""The tear sheet of a track record: headline metrics, six charts and an HTML page."""

from __future__ import annotations

import base64
import html
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError, LookAheadError
from tvs_pipeline.simulation.metrics import LEDGER_METRIC_KEYS, ZERO_FLOOR, ledger_metrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CHARTS",
    "ROLLING_WINDOW",
    "Leaderboard",
    "Tearsheet",
    "format_metric",
    "headline_markdown",
    "headline_rows",
    "monthly_returns",
    "render_leaderboard",
    "render_tearsheet",
    "weight_layers",
]

ROLLING_WINDOW = 63  # sessions: about a quarter of equity sessions
TOP_LISTINGS = 10  # drawn by name in the weights chart; the rest is "other"
CHARTS = ("equity", "drawdown", "rolling_sharpe", "monthly_returns", "weights", "turnover_costs")
PAGE_DPI = 100
MARKDOWN_SIZE, MARKDOWN_DPI = (8.75, 4.375), 80  # 700 x 350 px: small enough for run metadata
PERCENT_KEYS = frozenset(
    {
        "total_return",
        "annual_return",
        "annual_volatility",
        "max_drawdown",
        "cvar_95",
        "hit_rate",
        "cost_drag",
        "avg_gross_exposure",
        "avg_net_exposure",
        "selection_alpha",
        "benchmark_annual_return",
    }
)
LABELS = {
    "total_return": "total return",
    "annual_return": "annual return (geometric)",
    "annual_volatility": "annual volatility",
    "sharpe": "Sharpe (rf 0)",
    "sortino": "Sortino (target 0)",
    "calmar": "Calmar",
    "max_drawdown": "max drawdown",
    "cvar_95": "CVaR 95 % (daily)",
    "hit_rate": "hit rate",
    "n_periods": "sessions",
    "turnover_annual": "turnover per year (one-way)",
    "cost_drag": "cost drag per year",
    "avg_gross_exposure": "average gross exposure",
    "avg_net_exposure": "average net exposure",
    "periods_per_year": "sessions per year",
    # The universe of a session is chosen at its close: biased up (methodology §11.3, open).
    "selection_alpha": "selection alpha vs universe (understated, §11.3)",
    "benchmark_annual_return": "universe annual return (overstated, §11.3)",
}
MARKDOWN_KEYS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "max_drawdown",
    "benchmark_annual_return",
    "selection_alpha",
    "cost_drag",
)
LEDGER_NEEDS = ("date", "decided_on", "session", "net", "cost", "turnover", "universe_return")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Tearsheet:
    """Where a rendered tear sheet lives, and its numbers.

    Attributes
    ----------
    html : Path
        ``index.html``, showing the headline table and the charts (relative links).
    pngs : dict
        Chart name (each of :data:`CHARTS`) -> its PNG file, beside the page.
    headline : dict
        :func:`~tvs_pipeline.simulation.metrics.ledger_metrics` of the ledger.
    markdown : str
        A short headline table and the equity curve embedded as a PNG data URI
        (about 700 x 350 px), for the Dagster UI's metadata.
    """

    html: Path
    pngs: dict[str, Path]
    headline: dict[str, float]
    markdown: str


def format_metric(key: str, value: float) -> str:
    """A headline number as shown: percents for returns and risks, 2 decimals for ratios."""
    if value is None or pd.isna(value):
        return "n/a"
    if key == "n_periods":
        return f"{int(value)}"
    if key == "periods_per_year":
        return f"{value:.1f}"
    return f"{value:.2%}" if key in PERCENT_KEYS else f"{value:.2f}"


def headline_rows(
    headline: dict[str, float], keys: tuple[str, ...] = LEDGER_METRIC_KEYS
) -> list[tuple[str, str]]:
    """``(label, formatted value)`` of each of ``keys`` in ``headline``, in that order."""
    return [(LABELS.get(k, k), format_metric(k, headline[k])) for k in keys]


def headline_markdown(
    headline: dict[str, float], keys: tuple[str, ...] = LEDGER_METRIC_KEYS
) -> str:
    """A two-column Markdown table of the ``keys`` of ``headline``, formatted."""
    rows = [f"| {label} | {value} |" for label, value in headline_rows(headline, keys)]
    return "\n".join(["| metric | value |", "|---|---:|", *rows])


def monthly_returns(ledger: pd.DataFrame) -> pd.DataFrame:
    """Net returns compounded per calendar month over the ledger's sessions.

    Parameters
    ----------
    ledger : pandas.DataFrame
        A track record with ``date`` (datetime64), ``net`` (float) and ``session`` (bool).

    Returns
    -------
    pandas.DataFrame
        Index ``year`` (int), columns ``1`` .. ``12`` (months); ``Π(1 + net) − 1`` over the
        month's sessions, NaN for a month without a session.
    """
    sessions = _sessions(ledger, ("date", "session", "net"))
    dates = sessions["date"].dt
    growth = (1.0 + sessions["net"]).groupby([dates.year, dates.month]).prod() - 1.0
    growth.index = growth.index.set_names(["year", "month"])
    table = growth.unstack("month").reindex(columns=range(1, 13))
    table.columns.name = None
    return table


def render_tearsheet(
    ledger: pd.DataFrame,
    weights: pd.DataFrame | None,
    *,
    title: str,
    directory: Path,
    caveat: str = "",
) -> Tearsheet:
    """Render the out-of-sample tear sheet of a track record under ``directory``.

    Charts (one PNG each, named as in :data:`CHARTS`): equity against the raw universe's
    equal weight (``universe_return`` compounded, NaN as 0), drawdown, rolling Sharpe over
    :data:`ROLLING_WINDOW` sessions, month-by-year net returns, the books' weights over time
    (the :data:`TOP_LISTINGS` listings of largest mean absolute weight, the rest as "other";
    longs above 0, shorts below) and daily turnover with the cumulative cost. Only session
    rows are drawn and measured. Every file is written through a temporary file and a rename.
    matplotlib draws on its Agg canvas without pyplot, so no global backend is touched.

    Parameters
    ----------
    ledger : pandas.DataFrame
        One row per day: ``date``, ``decided_on`` (datetime64), ``net``, ``cost``,
        ``turnover``, ``gross_exposure``, ``net_exposure``, ``universe_return`` (floats) and
        ``session`` (bool); any order.
    weights : pandas.DataFrame or None
        The decided books, long form: ``date`` (datetime64), ``symbol`` (str),
        ``net_weight`` (float, signed). None or empty draws an empty weights chart.
    title : str
        What the track record is (e.g. the profile and role); the page adds the dates.
    directory : Path
        Folder of ``index.html`` and the PNGs; created if missing.
    caveat : str
        A line every reader must see before the numbers (the survivorship of a universe
        rebuilt point in time); it heads the page and the Markdown. Empty: none.

    Returns
    -------
    Tearsheet
        The page, the charts, the headline metrics and the Markdown summary.

    Raises
    ------
    DataError
        If the ledger has no session row, lacks a column or holds a non-finite number on a
        session, or ``weights`` lacks a column or holds a non-finite weight.
    LookAheadError
        If a session's book was decided on or after the session (not out of sample).
    """
    sessions = _sessions(ledger)
    decided = sessions["decided_on"]
    late = decided.notna() & (decided >= sessions["date"])
    if late.any():
        day = sessions.loc[late, "date"].iloc[0].date()
        raise LookAheadError(
            f"tearsheet: {int(late.sum())} of {len(sessions)} sessions earn a book decided on "
            f"or after the session (first {day}), expected one decided before it"
        )
    headline = ledger_metrics(ledger)
    layers = weight_layers(weights)
    first, last = sessions["date"].iloc[0].date(), sessions["date"].iloc[-1].date()
    heading = f"{title} — out-of-sample track record, {first} to {last}"
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    figures = {
        "equity": _equity_figure(sessions),
        "drawdown": _drawdown_figure(sessions),
        "rolling_sharpe": _rolling_sharpe_figure(sessions, headline["periods_per_year"]),
        "monthly_returns": _monthly_figure(monthly_returns(sessions)),
        "weights": _weights_figure(layers),
        "turnover_costs": _turnover_figure(sessions),
    }
    pngs = {}
    for name, figure in figures.items():
        pngs[name] = directory / f"{name}.png"
        _write_atomic(pngs[name], _png(figure, PAGE_DPI))
    small = figures["equity"]
    small.set_size_inches(*MARKDOWN_SIZE)
    encoded = base64.b64encode(_png(small, MARKDOWN_DPI)).decode("ascii")
    markdown = "\n".join(
        [
            *([f"**{caveat}**", ""] if caveat else []),
            f"**{heading}** ({headline['n_periods']} sessions)",
            "",
            headline_markdown(headline, MARKDOWN_KEYS),
            "",
            f"![equity](data:image/png;base64,{encoded})",
        ]
    )
    page = directory / "index.html"
    _write_atomic(page, _page(heading, headline, pngs, caveat).encode("utf-8"))
    return Tearsheet(html=page, pngs=pngs, headline=headline, markdown=markdown)


def _sessions(ledger: pd.DataFrame, needed: tuple[str, ...] = LEDGER_NEEDS) -> pd.DataFrame:
    """The session rows of a ledger in date order, or a DataError naming what is wrong."""
    missing = [c for c in needed if c not in ledger.columns]
    if missing:
        raise DataError(f"tearsheet: ledger lacks columns {missing}")
    is_session = ledger["session"].to_numpy(dtype=bool, na_value=False)
    if not is_session.any():
        raise DataError(
            f"tearsheet: none of {len(ledger)} ledger rows is a session, expected at least one"
        )
    return ledger.loc[is_session].sort_values("date", kind="stable").reset_index(drop=True)


def weight_layers(
    weights: pd.DataFrame | None, top: int = TOP_LISTINGS
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The books' long and short layers as drawn: ``top`` listings by name, the rest as "other".

    Listings are ranked by their mean absolute weight over the books (0 where a book omits
    one). The rest is summed into ``other`` separately on each side, as a listing of the
    rest may be long in one book and short in another; so each day ``longs + shorts`` sums to
    the book's net weight.

    Parameters
    ----------
    weights : pandas.DataFrame or None
        Long form: ``date`` (datetime64, the decision date), ``symbol`` (str), ``net_weight``
        (float, signed); several rows of a (date, symbol) add up.
    top : int
        Listings drawn by name.

    Returns
    -------
    tuple of pandas.DataFrame, or None
        ``(longs, shorts)``, both indexed by ``date`` (sorted) with the same columns: the
        ``top`` symbols, largest first, then ``other`` if any listing is left; longs ≥ 0,
        shorts ≤ 0. None when ``weights`` is None or empty.

    Raises
    ------
    DataError
        If a column is missing or a weight is not finite.
    """
    if weights is None or weights.empty:
        return None
    missing = [c for c in ("date", "symbol", "net_weight") if c not in weights.columns]
    if missing:
        raise DataError(f"tearsheet: weights lack columns {missing}")
    bad = int((~np.isfinite(weights["net_weight"].to_numpy(dtype=float))).sum())
    if bad:
        raise DataError(f"tearsheet: weights hold {bad} non-finite net_weight values")
    book = weights.pivot_table(
        index="date", columns="symbol", values="net_weight", aggfunc="sum", fill_value=0.0
    ).sort_index()
    book.columns.name = None
    order = book.abs().mean().sort_values(ascending=False, kind="stable").index
    named, rest = list(order[:top]), list(order[top:])
    longs, shorts = book[named].clip(lower=0.0), book[named].clip(upper=0.0)
    if rest:
        longs["other"] = book[rest].clip(lower=0.0).sum(axis=1)
        shorts["other"] = book[rest].clip(upper=0.0).sum(axis=1)
    return longs, shorts


def _figure(height: float = 4.0, rows: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure on the Agg canvas, with ``rows`` axes sharing x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10.0, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(alpha=0.3)
    return figure, list(axes)


def _date_axis(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _equity_figure(sessions: pd.DataFrame) -> Figure:
    figure, (ax,) = _figure()
    x = sessions["date"].to_numpy()
    equity = np.cumprod(1.0 + sessions["net"].to_numpy(dtype=float))
    benchmark = np.cumprod(1.0 + sessions["universe_return"].fillna(0.0).to_numpy(dtype=float))
    ax.plot(x, equity, color="#1f4e79", linewidth=1.4, label="book (net of costs)")
    universe = "raw universe, equal weight (chosen at each close, §11.3)"
    ax.plot(x, benchmark, color="#7f7f7f", linewidth=1.0, label=universe)
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_title("Equity, out of sample (start = 1.0)")
    ax.legend(loc="upper left", fontsize=8)
    _date_axis(ax)
    return figure


def _drawdown_figure(sessions: pd.DataFrame) -> Figure:
    figure, (ax,) = _figure(3.0)
    equity = np.cumprod(1.0 + sessions["net"].to_numpy(dtype=float))
    # The peak starts at 1.0, so a loss on the first session is a drawdown.
    fall = equity / np.maximum(np.maximum.accumulate(equity), 1.0) - 1.0
    ax.fill_between(sessions["date"].to_numpy(), fall * 100.0, 0.0, color="#c0392b", alpha=0.6)
    ax.set_title("Drawdown from the running peak (%)")
    _date_axis(ax)
    return figure


def _rolling_sharpe_figure(sessions: pd.DataFrame, periods_per_year: float) -> Figure:
    figure, (ax,) = _figure(3.0)
    net = sessions["net"].astype(float)
    rolling = net.rolling(ROLLING_WINDOW, min_periods=ROLLING_WINDOW)
    std = rolling.std(ddof=1)
    sharpe = rolling.mean() / std.where(std >= ZERO_FLOOR) * np.sqrt(periods_per_year)
    x = sessions["date"].to_numpy()
    ax.plot(x, sharpe.to_numpy(), color="#1f4e79", linewidth=1.0)
    ax.set_xlim(x[0], x[-1] if len(x) > 1 else x[0] + np.timedelta64(1, "D"))  # as the others
    ax.axhline(0.0, color="black", linewidth=0.6)
    if len(sessions) < ROLLING_WINDOW:
        ax.text(0.5, 0.5, f"fewer than {ROLLING_WINDOW} sessions", transform=ax.transAxes,
                ha="center", va="center", color="#7f7f7f")  # fmt: skip
    ax.set_title(
        f"Rolling Sharpe, {ROLLING_WINDOW}-session window "
        f"(annualised at {periods_per_year:.1f} sessions a year)"
    )
    _date_axis(ax)
    return figure


def _monthly_figure(table: pd.DataFrame) -> Figure:
    figure, (ax,) = _figure(0.9 + 0.45 * len(table))
    ax.grid(False)
    values = table.to_numpy(dtype=float) * 100.0
    bound = max(float(np.nanmax(np.abs(values))), 1e-9)
    ax.imshow(values, cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(col, row, f"{value:.1f}%", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(table)), [str(year) for year in table.index])
    ax.set_title("Monthly net return, compounded over the month's sessions (%)")
    return figure


def _weights_figure(layers: tuple[pd.DataFrame, pd.DataFrame] | None) -> Figure:
    figure, (ax,) = _figure()
    ax.set_title(f"Net weights of the decided books (top {TOP_LISTINGS} by mean |weight|, %)")
    if layers is None:
        ax.text(0.5, 0.5, "no weights recorded", transform=ax.transAxes, ha="center",
                va="center", color="#7f7f7f")  # fmt: skip
        return figure
    from matplotlib import colormaps

    longs, shorts = layers
    tab10 = colormaps["tab10"]
    colors = ["#bbbbbb" if c == "other" else tab10(i % 10) for i, c in enumerate(longs.columns)]
    x = longs.index.to_numpy()
    labels = [str(c) for c in longs.columns]
    ax.stackplot(x, longs.to_numpy().T * 100.0, colors=colors, labels=labels, step="post")
    ax.stackplot(x, shorts.to_numpy().T * 100.0, colors=colors, step="post")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    _date_axis(ax)
    return figure


def _turnover_figure(sessions: pd.DataFrame) -> Figure:
    figure, (top, bottom) = _figure(4.5, rows=2)
    x = sessions["date"].to_numpy()
    top.bar(x, sessions["turnover"].to_numpy(dtype=float) * 100.0, width=1.0, color="#1f4e79")
    top.set_title("Daily turnover, one-way (% of equity)")
    bottom.plot(x, sessions["cost"].cumsum().to_numpy(dtype=float) * 100.0, color="#c0392b")
    bottom.set_title("Cumulative cost: trading and borrow (sum of daily % of equity)")
    _date_axis(bottom)
    return figure


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file beside it and a rename: never half-written."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _page(heading: str, headline: dict[str, float], pngs: dict[str, Path], caveat: str = "") -> str:
    """The HTML page: heading, caveat, headline table, then each chart by relative link."""
    warning = f'<p class="caveat"><strong>{html.escape(caveat)}</strong></p>\n' if caveat else ""
    rows = "\n".join(
        f"<tr><td>{html.escape(label)}</td><td>{value}</td></tr>"
        for label, value in headline_rows(headline, tuple(headline))
    )
    images = "\n".join(
        f"<h2>{html.escape(name.replace('_', ' '))}</h2>\n"
        f'<img src="{html.escape(path.name)}" alt="{html.escape(name)}">'
        for name, path in pngs.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(heading)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1040px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; }}
td {{ padding: 2px 14px; border-bottom: 1px solid #ddd; }}
td:last-child {{ text-align: right; font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; }}
.caveat {{ background: #fff3cd; border-left: 4px solid #d39e00; padding: 6px 10px; }}
</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
{warning}<p>Out of sample: every session's return is earned by a book decided before that session.
Net of trading costs and borrow; only sessions are counted.</p>
<table>
{rows}
</table>
{images}
</body>
</html>
"""


@dataclass(frozen=True)
class Leaderboard:
    """Where a rendered tournament page lives.

    Attributes
    ----------
    html : Path
        ``index.html``: the leaderboard table and the leaders' equity curves.
    png : Path
        The equity curves of the leaders.
    markdown : str
        The curves embedded as a PNG data URI (about 700 x 350 px), for the Dagster UI.
    """

    html: Path
    png: Path
    markdown: str


def render_leaderboard(
    board: pd.DataFrame, returns: pd.DataFrame, *, title: str, directory: Path, top: int = 5
) -> Leaderboard:
    """The tournament's page: the leaderboard and the equity curves of its ``top`` leaders.

    Parameters
    ----------
    board : DataFrame
        The leaderboard (``strategy``, ``simulator``, ``status`` and the metric columns), best
        first.
    returns : DataFrame
        ``strategy``, ``date``, ``net``: each strategy's sessions (out of sample).
    title : str
        The page's heading.
    directory : Path
        Where ``index.html`` and ``leaders.png`` are written (atomically).
    top : int
        Leaders drawn (the first vectorized rows of the board).

    Raises
    ------
    DataError
        If no strategy of the board has a net series.
    """
    leaders = board.loc[board["simulator"] == "vectorized", "strategy"].head(top).tolist()
    series = returns.loc[returns["strategy"].isin(leaders)]
    if series.empty:
        raise DataError(f"leaderboard {title}: no strategy has a net series to draw")
    figure, (ax,) = _figure()
    for name in leaders:
        own = series.loc[series["strategy"] == name].sort_values("date")
        equity = np.cumprod(1.0 + own["net"].to_numpy(dtype=float))
        ax.plot(own["date"].to_numpy(), equity, linewidth=1.2, label=name)
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.set_title(f"Equity of the {len(leaders)} leaders, out of sample (start = 1.0)")
    ax.legend(loc="upper left", fontsize=8)
    _date_axis(ax)
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / "leaders.png"
    _write_atomic(png, _png(figure, PAGE_DPI))
    figure.set_size_inches(*MARKDOWN_SIZE)
    encoded = base64.b64encode(_png(figure, MARKDOWN_DPI)).decode("ascii")
    table = board.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)
    page = directory / "index.html"
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px}td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>Every number is out of sample; the deflated "
        "Sharpe is the probability that the Sharpe beats the best of the grid's trials by "
        "luck (docs/methodology.md 11.7).</p><img src='leaders.png' alt='leaders'>"
        f"{table}</body></html>"
    )
    _write_atomic(page, body.encode("utf-8"))
    return Leaderboard(html=page, png=png, markdown=f"![leaders](data:image/png;base64,{encoded})")
