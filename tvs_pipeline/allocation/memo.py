"""Allocation decisions reused across walk-forwards: ``allocate`` reads only its window."""

from __future__ import annotations

import hashlib

import pandas as pd

from tvs_pipeline.allocation.weights import allocate
from tvs_pipeline.config.schema import AllocationConfig

__all__ = ["AllocationMemo"]


class AllocationMemo:
    """``allocate`` memoised on the content of its estimation window.

    ``allocate(history, config)`` depends only on the last ``config.estimation_days`` rows of
    ``history`` (their dates, atom ids and values) and on ``config``. The walk-forwards of
    consecutive partitions rebalance on one session grid, so most of their decisions see the
    same window; the memo solves each window once. The key is a digest of the window's bytes,
    so a revised bar or another atom set is a new key, never a stale answer.

    Parameters
    ----------
    config : AllocationConfig
        The allocation settings every call uses.
    max_entries : int
        Windows kept; the oldest is dropped first (a walk-forward moves forward in time).
    """

    def __init__(self, config: AllocationConfig, max_entries: int = 4096) -> None:
        self.config = config
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._answers: dict[bytes, pd.DataFrame] = {}

    def __call__(self, history: pd.DataFrame) -> pd.DataFrame:
        """``allocate(history, self.config)``, from the memo when this window was seen."""
        key = self._key(history.iloc[-self.config.estimation_days :])
        found = self._answers.get(key)
        if found is not None:
            self.hits += 1
            return found
        answer = allocate(history, self.config)
        self.misses += 1
        if len(self._answers) >= self.max_entries:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = answer
        return answer

    @staticmethod
    def _key(window: pd.DataFrame) -> bytes:
        digest = hashlib.blake2b(digest_size=20)
        digest.update("\x1f".join(map(str, window.columns)).encode())
        digest.update(window.index.to_numpy(dtype="datetime64[ns]").tobytes())
        digest.update(window.to_numpy(dtype="float64").tobytes())
        return digest.digest()
