"""Each logic's position rule: the side an atom holds between its rebalances, from lagged data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.rating import technical_rating
from tvs_pipeline.selection.reversion import DEFAULT_DEVIATION_WINDOW

__all__ = ["SIGNAL_LOGICS", "close_sides", "positions"]

# Logics whose side follows a signal at each rebalance; every other logic holds its direction.
SIGNAL_LOGICS = ("mean_reversion", "rating")


def positions(
    returns: np.ndarray,
    logic: str,
    direction: str,
    timescale: int,
    window: int = DEFAULT_DEVIATION_WINDOW,
) -> np.ndarray:
    """The side (+1 long, -1 short) an atom holds on each of its own sessions, and next.

    The atom rebalances every ``timescale`` of its own sessions, counted back from the last
    one (the as-of day D is always a rebalance): the side decided at the close of rebalance
    session ``k`` is held over the returns of sessions ``k + 1 .. k + timescale``, so a return
    is earned by a side decided from earlier closes only. The last value is the side decided at
    D, held over D + 1 (the atom's ``sign`` for flattening).

    - ``mean_reversion``: ``-sign(ln P_k - mean(ln P over the last window closes))``, buy
      below the recent level, sell above it;
    - ``rating``: ``sign`` of the technical rating at ``k`` (`technical_rating`);
    - any other logic (trend, momentum, breakout): the scanner's direction throughout.

    Where the signal is 0 or not yet defined (fewer than ``window`` closes), the side is the
    scanner's direction. Before the first rebalance, the returns are held with the side of the
    first rebalance's predecessor, the direction.

    Parameters
    ----------
    returns : ndarray
        The atom's own-session simple returns in time order (no NaN).
    logic, direction : str
        The atom's logic and its scanner's direction (LONG or SHORT).
    timescale : int
        Sessions between rebalances (>= 1).
    window : int, default 20
        Closes of the mean-reversion level.

    Returns
    -------
    ndarray
        Shape ``(len(returns) + 1,)``, int64 in {-1, +1}: element ``t`` is the side held over
        return ``t``; the last element the side held over the next session.

    Raises
    ------
    DataError
        ``timescale`` below 1 or a direction other than LONG/SHORT.
    """
    if not isinstance(timescale, int | np.integer) or timescale < 1:
        raise DataError(
            f"positions {logic}: timescale must be a whole number >= 1, got {timescale!r}"
        )
    signal = close_sides(returns, logic, direction, window)  # checks the direction
    n = len(returns)
    if logic not in SIGNAL_LOGICS or n == 0:
        return signal  # the direction throughout
    base = 1 if direction == "LONG" else -1
    sides = np.empty(n + 1, dtype=np.int64)
    # close k (k = 0 .. n; close 0 is before the first return) decides returns k+1 .. k+h
    rebalances = np.arange(n, -1, -timescale)[::-1]
    held = np.searchsorted(rebalances, np.arange(n + 1), side="left") - 1
    decided = np.where(held >= 0, signal[rebalances[np.maximum(held, 0)]], base)
    sides[:n] = decided[1:]
    sides[n] = signal[n]
    return sides


def close_sides(
    returns: np.ndarray,
    logic: str,
    direction: str,
    window: int = DEFAULT_DEVIATION_WINDOW,
) -> np.ndarray:
    """The side an atom's logic decides at each of its closes, from that close and earlier ones.

    Element ``k`` (``k = 0 .. n``; close 0 is the one before the first return) is the side a
    rebalance at close ``k`` would take (`positions`' rule): the signal of a signal logic, the
    scanner's direction where it is 0 or not yet defined, and the direction throughout for any
    other logic. Causal: element ``k`` reads returns ``1 .. k`` only.

    Parameters
    ----------
    returns : ndarray
        The atom's own-session simple returns in time order (no NaN).
    logic, direction : str
        The atom's logic and its scanner's direction (LONG or SHORT).
    window : int, default 20
        Closes of the mean-reversion level.

    Returns
    -------
    ndarray
        Shape ``(len(returns) + 1,)``, int64 in {-1, +1}.

    Raises
    ------
    DataError
        A direction other than LONG/SHORT.
    """
    if direction not in ("LONG", "SHORT"):
        raise DataError(f"{logic} atom: direction must be LONG or SHORT, got {direction!r}")
    base = 1 if direction == "LONG" else -1
    n = len(returns)
    if logic not in SIGNAL_LOGICS or n == 0:
        return np.full(n + 1, base, dtype=np.int64)
    log_close = np.concatenate([[0.0], np.cumsum(np.log1p(np.asarray(returns, dtype=float)))])
    if logic == "mean_reversion":
        level = pd.Series(log_close).rolling(window, min_periods=window).mean().to_numpy()
        signal = -np.sign(log_close - level)
    else:
        rating = technical_rating(pd.DataFrame({"p": np.exp(log_close)}))["p"].to_numpy()
        signal = np.sign(rating)
    return np.where(np.isfinite(signal) & (signal != 0), signal, base).astype(np.int64)
