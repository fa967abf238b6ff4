"""The performance report of a day: the track record's metrics to date, and where its page is."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from tvs_pipeline.simulation.metrics import ledger_metrics

__all__ = ["REPORT_COLUMNS", "report_day", "report_directory"]

REPORT_COLUMNS = ("metric", "value")


def report_day(history: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The out-of-sample track record's metrics over every session up to ``as_of``.

    Parameters
    ----------
    history : DataFrame
        The role's ``simulation`` rows (``date`` and the ledger columns) of any span; rows
        dated after ``as_of`` are not used.
    as_of : date
        Day D.

    Returns
    -------
    DataFrame
        ``metric`` (str), ``value`` (float): `ledger_metrics` of the rows up to D, plus
        ``sessions`` and ``equity``; no rows before the first session.
    """
    upto = history.loc[history["date"] <= pd.Timestamp(as_of)]
    if upto.empty or not upto["session"].astype(bool).any():
        return pd.DataFrame({"metric": pd.Series(dtype="str"), "value": pd.Series(dtype="float64")})
    numbers = {
        **ledger_metrics(upto),
        "sessions": float(upto["session"].astype(bool).sum()),
        "equity": float(upto["equity"].iloc[-1]),
    }
    return pd.DataFrame({"metric": list(numbers), "value": [float(v) for v in numbers.values()]})


def report_directory(root: str | Path, role: str, first: date, last: date) -> Path:
    """A role's tear-sheet folder for ``[first, last]``: ``<root>/<role>/<first>_<last>``."""
    return Path(root) / role / f"{first.isoformat()}_{last.isoformat()}"
