"""Selection engines of this release: ``baseline`` (pass-through) and ``momentum`` (top-N)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["ENGINES", "select_baseline", "select_momentum"]

DEFAULT_PERIODS_PER_YEAR = 252
DEFAULT_TOP_N = 5
DEFAULT_MIN_OBS = 60


def _direction_sign(direction: pd.Series) -> pd.Series:
    return direction.astype("str").str.upper().map({"LONG": 1.0, "SHORT": -1.0})


def select_baseline(returns: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """Every candidate that has returns is selected; the rest are rejected with the reason."""
    has = candidates["symbol"].isin(returns.columns)
    out = candidates.assign(
        score=np.nan,
        rank=np.nan,
        n_obs=candidates["symbol"].map(returns.notna().sum()).fillna(0).astype("int64"),
        selected=has.to_numpy(),
        reason=np.where(has, "", "no returns"),
    )
    return out


def select_momentum(
    returns: pd.DataFrame,
    candidates: pd.DataFrame,
    top_n: int = DEFAULT_TOP_N,
    min_obs: int = DEFAULT_MIN_OBS,
) -> pd.DataFrame:
    """Top-N per sleeve and direction by direction-adjusted annualised mean return.

    The score of a candidate is ``sign x mean(r) x P`` over its own-session returns in the
    window, with sign +1 for LONG and -1 for SHORT and P its sessions per year, so a short list
    holds the most bearish names. A candidate needs ``min_obs`` returns and a positive score.
    """
    n_obs = candidates["symbol"].map(returns.notna().sum()).fillna(0).astype("int64")
    mean = candidates["symbol"].map(returns.mean(skipna=True))
    periods = (
        candidates["sessions_per_year"].astype("float64")
        if "sessions_per_year" in candidates
        else pd.Series(float(DEFAULT_PERIODS_PER_YEAR), index=candidates.index)
    )
    score = _direction_sign(candidates["direction"]) * mean * periods
    reason = pd.Series("", index=candidates.index, dtype="str")
    reason[n_obs < min_obs] = f"fewer than {min_obs} returns"
    reason[n_obs == 0] = "no returns"
    reason[(reason == "") & ~(score > 0)] = "momentum against the direction"
    eligible = reason == ""
    groups = [candidates[c] for c in ("sleeve", "direction") if c in candidates]
    ranked = (
        score.where(eligible)
        .groupby(groups if groups else np.zeros(len(score)))
        .rank(ascending=False, method="first")
    )
    reason[eligible & (ranked > top_n)] = f"outside the top {top_n} of its group"
    return candidates.assign(
        score=score.astype("float64"),
        rank=ranked.astype("float64"),
        n_obs=n_obs,
        selected=(reason == "").to_numpy(),
        reason=reason,
    )


ENGINES: dict[str, Callable[..., pd.DataFrame]] = {
    "baseline": select_baseline,
    "momentum": select_momentum,
}
