"""Stress windows of a returns panel, and the share of them each listing traded through."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TRADED_SHARE", "stress_windows", "survival_shares"]

TRADED_SHARE = (
    0.9  # a listing traded through a window with a non-zero return on 90 % of its sessions
)


def stress_windows(
    returns: pd.DataFrame, count: int = 3, length: int = 20
) -> list[tuple[int, int]]:
    """The worst non-overlapping runs of ``length`` rows of the panel's equal-weight index.

    The index return of a row is the mean of the finite returns on it (0 when there are
    none). Runs are ranked by their summed log return; the worst is taken, runs overlapping it
    are discarded, and so on until ``count`` runs are taken or no losing run is left.

    Parameters
    ----------
    returns : DataFrame
        Daily simple returns, index dates ascending, one column per listing.
    count : int, default 3
        Most windows to return.
    length : int, default 20
        Rows per window (about a month of sessions).

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` row positions (``stop`` exclusive), worst first; empty when the panel
        is shorter than ``length`` or never loses over ``length`` rows.
    """
    values = returns.to_numpy(dtype="float64", na_value=np.nan)
    if len(values) < length or values.shape[1] == 0 or count < 1:
        return []
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(finite, values, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
    log_index = np.log1p(np.maximum(index, -0.999999))
    total = np.concatenate([[0.0], np.cumsum(log_index)])
    runs = total[length:] - total[:-length]  # runs[s] sums rows s .. s + length - 1
    chosen: list[tuple[int, int]] = []
    order = np.argsort(runs, kind="stable")
    taken = np.zeros(len(runs), dtype=bool)
    for start in order.tolist():
        if len(chosen) == count or runs[start] >= 0:
            break
        if taken[start]:
            continue
        chosen.append((start, start + length))
        taken[max(0, start - length + 1) : start + length] = True
    return chosen


def survival_shares(
    returns: pd.DataFrame,
    symbols: list[str],
    groups: list[object],
    count: int = 3,
    length: int = 20,
) -> np.ndarray:
    """Share of the panel's stress windows each listing traded through.

    A window is eligible for a listing whose first observation precedes it. The listing
    traded through it when it has a finite, non-zero return on at least ``TRADED_SHARE`` of
    the window's sessions of its group (rows on which some listing of the same group, e.g.
    the same sessions per year, has a return): a listing that stopped, froze or went missing
    during a sell-off did not.

    Parameters
    ----------
    returns : DataFrame
        The panel (dates ascending x listings); its equal-weight index defines the windows.
    symbols : list of str
        Columns of ``returns`` to score.
    groups : list
        One session-group key per symbol (e.g. 252 or 365).
    count, length : int
        Passed to `stress_windows`.

    Returns
    -------
    ndarray
        Shape ``(len(symbols),)``: in [0, 1]; NaN when no window is eligible (the listing is
        younger than every stress window, or the panel has none).
    """
    windows = stress_windows(returns, count, length)
    out = np.full(len(symbols), np.nan)
    if not windows or not symbols:
        return out
    values = returns[symbols].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    traded = finite & (np.where(finite, values, 0.0) != 0.0)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), len(values))
    keys = pd.Series(groups, dtype="object")
    eligible = np.zeros(len(symbols))
    survived = np.zeros(len(symbols))
    for key in keys.unique().tolist():
        members = (keys == key).to_numpy()
        sessions = finite[:, members].any(axis=1)
        for start, stop in windows:
            expected = sessions[start:stop].sum()
            ok = first[members] < start
            hits = traded[start:stop, members].sum(axis=0) >= TRADED_SHARE * expected
            eligible[members] += ok
            survived[members] += ok & hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(eligible > 0, survived / eligible, np.nan)
