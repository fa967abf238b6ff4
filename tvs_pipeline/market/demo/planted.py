"""The demo market's planted strategy ground truth: mean-reverting and rating-driven paths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from tvs_pipeline.indicators import (
    MA_WINDOWS,
    MOMENTUM_LAG,
    RSI_OVERBOUGHT,
    RSI_OVERSOLD,
    RSI_PERIOD,
)
from tvs_pipeline.market.demo.epoch import ANCHOR_DAY, CALENDAR, Streams, normal, stable_id
from tvs_pipeline.market.demo.model import LatentPaths

__all__ = ["MA_WINDOWS", "PLANTED", "RSI_PERIOD", "RatingState", "plant_paths"]

PLANTED = ("mean_revert", "rated")
# Annual vol of the slow random walk under a mean-reverting listing's deviation.
LEVEL_VOL = {"stock": 0.08, "crypto": 0.20}
SESSIONS = {"stock": 252.0, "crypto": 365.0}
PLANTED_TAG = 3  # the stream tag of the planted shocks (1: idiosyncratic, 2: bar noise)


def plant_paths(
    paths: pd.DataFrame, latent: LatentPaths, streams: Streams, xnys: np.ndarray
) -> LatentPaths:
    """The latent paths with every planted path's log price replaced by its own process.

    Each planted path moves on its own sessions (a stock on XNYS sessions, a crypto base every
    day; between sessions its log price holds), driven by normal shocks ``e`` of its own stream
    (``[seed, crc32(key), 3]``), ``sigma = vol / sqrt(P)`` per session (``P`` 252 or 365):

    - ``mean_revert``: ``x = m + u``; the deviation ``u_s = phi u_{s-1} + sigma e_s`` with
      ``phi = 0.5 ** (1 / half_life)`` (it halves in ``half_life`` sessions), the level
      ``m`` a slow random walk (8 % a year for stocks, 20 % for crypto).
    - ``rated``: ``r_s = signal sigma R_{s-1} + sigma e_s``: the next session's expected return
      is ``signal`` standard deviations per unit of the listing's own technical rating ``R``
      (`technical_rating`, the snapshot's ``Recommend.All`` on its closes): a known, modest
      signal and no drift of its own.

    The log price on the anchor day is ``ln(price)``, as for every other path.

    Parameters
    ----------
    paths : DataFrame
        `build_paths`' table: key, kind, price, vol, half_life, signal.
    latent : LatentPaths
        `simulate_paths`' output.
    streams : Streams
        The market's streams (a shock after D changes the shocks after D only: the processes
        are causal).
    xnys : ndarray
        Calendar-day indices of the XNYS sessions.

    Returns
    -------
    LatentPaths
        A new value; ``x`` differs from ``latent.x`` in the planted columns only.
    """
    planted = np.flatnonzero(paths["kind"].isin(PLANTED).to_numpy())
    if not len(planted):
        return latent
    x = latent.x.copy()
    every_day = np.arange(len(CALENDAR))
    crypto = paths["key"].str.startswith("crypto:").to_numpy()
    for market, days in (("crypto", every_day), ("stock", xnys)):
        held = np.clip(days.searchsorted(every_day, side="right") - 1, 0, None)
        anchor = min(int(days.searchsorted(ANCHOR_DAY)), len(days) - 1)
        for kind in PLANTED:
            mine = (paths["kind"].to_numpy()[planted] == kind) & (
                crypto[planted] == (market == "crypto")
            )
            cols = planted[mine]
            if not len(cols):
                continue
            group = paths.iloc[cols]
            shocks = np.stack(
                [streams.draw(stable_id(key), PLANTED_TAG, normal, 2)[days]
                 for key in group["key"]], axis=2,
            )  # fmt: skip
            sigma = group["vol"].to_numpy() / np.sqrt(SESSIONS[market])
            if kind == "mean_revert":
                phi = 0.5 ** (1.0 / group["half_life"].to_numpy())
                walk = LEVEL_VOL[market] / np.sqrt(SESSIONS[market])
                log_close = _mean_revert(shocks, sigma, phi, walk)
            else:
                log_close = _rated(shocks[:, 0], sigma, group["signal"].to_numpy())
            log_close = log_close - log_close[anchor] + np.log(group["price"].to_numpy())
            x[:, cols] = log_close[held]
    return replace(latent, x=x)


def _mean_revert(shocks: np.ndarray, sigma: np.ndarray, phi: np.ndarray, walk: float) -> np.ndarray:
    """Log closes (sessions x paths): a slow random walk plus an AR(1) deviation."""
    deviation = np.empty(shocks.shape[::2])
    level = np.zeros(shocks.shape[2])
    innovations = sigma * shocks[:, 0]
    for s in range(len(innovations)):
        level = phi * level + innovations[s]
        deviation[s] = level
    return np.cumsum(shocks[:, 1] * walk, axis=0) + deviation


def _rated(shocks: np.ndarray, sigma: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Log closes (sessions x paths) whose next return follows the rating of the closes so far."""
    log_close = np.cumsum(sigma * shocks, axis=0)  # overwritten session by session below
    value, rating = np.zeros(shocks.shape[1]), np.zeros(shocks.shape[1])
    state = RatingState(shocks.shape[1])
    for s in range(len(shocks)):
        value = value + signal * sigma * rating + sigma * shocks[s]
        log_close[s] = value
        rating = state.step(np.exp(value))
    return log_close


class RatingState:
    """A running technical rating of several listings, one session at a time (causal).

    ``step(close)`` appends one close per listing and returns the rating on the closes so far:
    the mean of ``Recommend.MA`` (the mean of ``sign(close - SMA_n)`` over the windows
    ``MA_WINDOWS`` the history covers) and ``Recommend.Other`` (the mean of the RSI(14) vote,
    +1 below 30, -1 above 70, else 0, with Wilder's smoothing seeded by the mean of the first
    14 changes, and the sign of the 10-session momentum, where available); 0 before any part is
    available. It is the demo snapshot's ``Recommend.All``, read on one path's closes.
    """

    def __init__(self, width: int) -> None:
        self.sums = [np.zeros(width)]  # running sums of the closes, one entry per session
        self.closes: list[np.ndarray] = []
        self.gain, self.loss = np.zeros(width), np.zeros(width)

    def step(self, close: np.ndarray) -> np.ndarray:
        """Append today's closes; today's rating."""
        self.closes.append(close)
        self.sums.append(self.sums[-1] + close)
        n = len(self.closes)
        votes = [np.sign(close - (self.sums[-1] - self.sums[-1 - w]) / w)
                 for w in MA_WINDOWS if n >= w]  # fmt: skip
        parts, other = ([np.mean(votes, axis=0)] if votes else []), []
        if n > RSI_PERIOD:
            change = close - self.closes[-2]
            up, down = np.maximum(change, 0.0), np.maximum(-change, 0.0)
            if n == RSI_PERIOD + 1:
                diffs = np.diff(np.array(self.closes), axis=0)
                self.gain = np.maximum(diffs, 0.0).mean(axis=0)
                self.loss = np.maximum(-diffs, 0.0).mean(axis=0)
            else:
                self.gain = self.gain + (up - self.gain) / RSI_PERIOD
                self.loss = self.loss + (down - self.loss) / RSI_PERIOD
            with np.errstate(divide="ignore", invalid="ignore"):
                strength = 100.0 - 100.0 / (1.0 + self.gain / self.loss)
            strength = np.where(self.loss > 0, strength, np.where(self.gain > 0, 100.0, 50.0))
            vote = np.where(strength > RSI_OVERBOUGHT, -1.0, 0.0)
            other.append(np.where(strength < RSI_OVERSOLD, 1.0, vote))
        if n > MOMENTUM_LAG:
            other.append(np.sign(close - self.closes[-1 - MOMENTUM_LAG]))
        if other:
            parts.append(np.mean(other, axis=0))
        if len(self.closes) > 4 * max(MA_WINDOWS):  # keep memory bounded
            del self.closes[: -max(MA_WINDOWS) - 1]
            del self.sums[: -max(MA_WINDOWS) - 2]
        return np.mean(parts, axis=0) if parts else np.zeros_like(close)
