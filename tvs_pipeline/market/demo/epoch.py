"""The demo market's epoch of calendar days and its seeded random streams."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "ANCHOR_DAY",
    "CALENDAR",
    "EPOCH_END",
    "EPOCH_START",
    "YEAR",
    "Draw",
    "Streams",
    "day_index",
    "fat_tails",
    "normal",
    "stable_id",
    "uniform",
]

EPOCH_START = date(2021, 1, 1)
EPOCH_END = date(2028, 12, 31)
CALENDAR = pd.date_range(EPOCH_START, EPOCH_END, freq="D").as_unit("ns")
YEAR = 365.0
ANCHOR_DAY = (date(2025, 1, 1) - EPOCH_START).days  # catalog prices hold (in expectation) here
SHOCK_TAG = 99

Draw = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def stable_id(text: str) -> int:
    """A process-independent integer for a name (never ``hash()``, which is salted)."""
    return zlib.crc32(text.encode())


def fat_tails(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Student-t (4 dof) draws scaled to unit variance, clipped at 8 standard deviations."""
    return np.clip(rng.standard_t(4, size=shape) / np.sqrt(2.0), -8.0, 8.0)


def normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Standard normal draws."""
    return rng.standard_normal(shape)


def uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform draws on ``[0, 1)``."""
    return rng.random(shape)


def day_index(when: date | pd.Timestamp) -> int:
    """Calendar-day index of ``when`` in the epoch (negative before it)."""
    return int((pd.Timestamp(when).normalize() - CALENDAR[0]).days)


@dataclass(frozen=True)
class Streams:
    """The random streams of one market: ``default_rng([seed, ident, tag])`` per stream.

    Parameters
    ----------
    seed : int
        Seed of every stream.
    shock_row : int, optional
        Calendar-day index after which every stream continues from another stream
        (``[seed, ident, tag, SHOCK_TAG]``); ``None``: no shock.
    """

    seed: int
    shock_row: int | None = None

    def draw(self, ident: int, tag: int, draw: Draw, cols: int) -> np.ndarray:
        """Calendar-day draws of one stream; rows after ``shock_row`` come from another.

        Parameters
        ----------
        ident : int
            Stable id of what the stream drives (``stable_id`` of a name).
        tag : int
            Which of its streams.
        draw : Draw
            The distribution, called with a generator and a shape.
        cols : int
            Number of columns.

        Returns
        -------
        ndarray
            Shape ``(len(CALENDAR), cols)``: one row per calendar day of the epoch.
        """
        out = draw(np.random.default_rng([self.seed, ident, tag]), (len(CALENDAR), cols))
        if self.shock_row is not None and self.shock_row + 1 < len(CALENDAR):
            start = max(self.shock_row + 1, 0)
            rng = np.random.default_rng([self.seed, ident, tag, SHOCK_TAG])
            out[start:] = draw(rng, (len(CALENDAR) - start, cols))
        return out
