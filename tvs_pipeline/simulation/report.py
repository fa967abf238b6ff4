"""The daily tear sheet as Markdown: performance, target weights, selection, equity curve."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import pandas as pd

from tvs_pipeline.simulation.metrics import performance_summary
from tvs_pipeline.synthesis.atoms import periods_per_year

__all__ = ["REPORT_NAME", "render_report", "report_day", "report_path", "write_text_atomic"]

REPORT_NAME = "report.md"

PERCENT_METRICS = {
    "total_return",
    "annual_return",
    "annual_volatility",
    "max_drawdown",
    "cvar_95",
    "avg_exposure",
}


def _fmt(name: str, value: float) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{value:.2%}" if name in PERCENT_METRICS else f"{value:.3f}"


def render_report(
    day: date,
    summary: dict[str, float],
    ledger: pd.DataFrame,
    allocation: pd.DataFrame,
    selection: pd.DataFrame,
) -> str:
    """Markdown tear sheet of one as-of day.

    Parameters
    ----------
    day : date
        The as-of date.
    summary : dict
        ``performance_summary`` of the day's ledger.
    ledger : DataFrame
        Walk-forward ledger [market_date, net_return, equity, ...].
    allocation : DataFrame
        The day's weights, ``kind`` atom or physical.
    selection : DataFrame
        The day's decisions [symbol, sleeve, direction, selected, score, reason].
    """
    lines = [f"# tvs_pipeline report — as of {day.isoformat()}", ""]
    lines += [
        "## Walk-forward performance (net of friction)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_fmt(k, v)} |" for k, v in summary.items()]
    physical = allocation.loc[allocation.get("kind", pd.Series(dtype="str")) == "physical"]
    lines += ["", "## Target weights for the next session", ""]
    if len(physical):
        table = physical[["symbol", "net_weight"]].sort_values("net_weight", ascending=False)
        lines.append(table.to_markdown(index=False, floatfmt=".4f"))
    else:
        lines.append("_no positions_")
    chosen = selection.loc[selection["selected"].astype(bool)] if len(selection) else selection
    lines += ["", f"## Selected ({len(chosen)} of {len(selection)} candidates)", ""]
    if len(chosen):
        cols = [c for c in ("symbol", "sleeve", "direction", "score") if c in chosen.columns]
        lines.append(chosen[cols].to_markdown(index=False, floatfmt=".3f"))
    if len(ledger):
        monthly = ledger.set_index("market_date")["equity"].resample("ME").last().dropna().tail(12)
        lines += ["", "## Equity, month ends (last 12)", "", "| month | equity |", "|---|---|"]
        lines += [f"| {idx.strftime('%Y-%m')} | {val:.4f} |" for idx, val in monthly.items()]
    return "\n".join(lines) + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def report_path(directory: str | Path, day: date, name: str = REPORT_NAME) -> Path:
    """Where a report file of ``day`` lives: ``<directory>/<YYYY-MM-DD>/<name>``."""
    return Path(directory) / day.isoformat() / name


def report_day(
    ledger: pd.DataFrame,
    atoms: pd.DataFrame,
    weights: pd.DataFrame,
    decisions: pd.DataFrame,
    as_of: date,
    directory: str | Path,
) -> pd.DataFrame:
    """One day's performance metrics; its Markdown tear sheet is written beside the lake.

    Parameters
    ----------
    ledger : DataFrame
        The ``simulation`` rows of day D (the walk-forward ledger).
    atoms : DataFrame
        The ``synthesis`` rows of day D (they give the sessions per year).
    weights : DataFrame
        The ``allocation`` rows of day D.
    decisions : DataFrame
        The ``selection`` rows of day D.
    as_of : date
        Day D.
    directory : str or Path
        The reports folder; the tear sheet goes to `report_path` (written atomically).

    Returns
    -------
    DataFrame
        One row per `performance_summary` metric: ``metric`` (str), ``value`` (float) and
        ``report_path`` (str, the tear sheet's path).
    """
    summary = performance_summary(ledger, periods_per_year(atoms))
    path = report_path(directory, as_of)
    write_text_atomic(path, render_report(as_of, summary, ledger, weights, decisions))
    metrics = pd.DataFrame({"metric": list(summary), "value": [float(v) for v in summary.values()]})
    return metrics.assign(report_path=str(path))
