"""The one selection feature frame: every metric of every candidate, direction-adjusted."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from tvs_pipeline.errors import DataError
from tvs_pipeline.parameters import Parameters
from tvs_pipeline.selection.aligned import bottom_align, last_rows
from tvs_pipeline.selection.efficiency import efficiency_columns, efficiency_ratio
from tvs_pipeline.selection.entropy import (
    check_entropy_parameters,
    permutation_entropy,
    permutation_entropy_columns,
)
from tvs_pipeline.selection.hurst import (
    DEFAULT_MAX_LAG,
    DEFAULT_MIN_LAG,
    check_hurst_parameters,
    hurst_columns,
    hurst_exponent,
)
from tvs_pipeline.selection.rating import DEFAULT_RATING_HORIZON, rating_ic_columns
from tvs_pipeline.selection.reversion import (
    DEFAULT_DEVIATION_WINDOW,
    autocorrelation_columns,
    half_life_columns,
)
from tvs_pipeline.selection.stress import survival_shares

__all__ = [
    "DEFAULT_LOGIC",
    "DIRECTIONS",
    "FEATURE_COLUMNS",
    "FeatureParams",
    "build_features",
    "check_candidates",
    "efficiency_ratio",
    "hurst_exponent",
    "permutation_entropy",
]

DIRECTIONS = {"LONG": 1.0, "SHORT": -1.0}
FEATURE_COLUMNS = (
    "n_obs",
    "periods_per_year",
    "momentum",
    "stability",
    "entropy",
    "hurst",
    "efficiency",
    "efficiency_dir",
    "adx",
    "liquidity",
    "skew",
    "tail_gain",
    "antifragility",
    "survival",
    "fragility",
    "kurtosis",
    "autocorr",
    "half_life",
    "rating_ic",
)
DEFAULT_LOGIC = "trend"  # a candidate without a ``logic`` is read as a trend candidate
TAIL_SHARE = 0.05  # tails and expected shortfall read the worst (best) 5 % of sessions
WEEKDAYS_ONLY, EVERY_DAY = 252, 365


class FeatureParams(Parameters):
    """How the feature frame is computed (docs/methodology.md, section 8, gives the reasons).

    Attributes
    ----------
    entropy_order, entropy_delay : int
        Permutation entropy embedding (3, 1).
    efficiency_window : int or None
        Own observations the efficiency ratio reads (None: the whole window).
    hurst_min_lag, hurst_max_lag : int
        Rescaled-range segment lengths (4 to 64, powers of two).
    stress_windows, stress_length : int
        Survival reads the ``stress_windows`` (3) worst non-overlapping runs of
        ``stress_length`` (20) rows of the equal-weight index of the panel.
    deviation_window : int
        Closes the level of the half-life's deviation averages (20).
    rating_horizon : int
        Sessions of the forward return the rating's information coefficient reads (10, the
        rating logic's holding horizon).
    """

    entropy_order: int = Field(3, ge=2, le=7)
    entropy_delay: int = Field(1, ge=1, le=10)
    efficiency_window: int | None = Field(None, ge=10)
    hurst_min_lag: int = Field(DEFAULT_MIN_LAG, ge=DEFAULT_MIN_LAG, le=64)
    hurst_max_lag: int = Field(DEFAULT_MAX_LAG, ge=8, le=1024)
    stress_windows: int = Field(3, ge=0, le=20)
    stress_length: int = Field(20, ge=5, le=250)
    deviation_window: int = Field(DEFAULT_DEVIATION_WINDOW, ge=2, le=250)
    rating_horizon: int = Field(DEFAULT_RATING_HORIZON, ge=1, le=250)

    @model_validator(mode="after")
    def _embedding_and_lags(self) -> FeatureParams:
        check_entropy_parameters(self.entropy_order, self.entropy_delay)
        check_hurst_parameters(self.hurst_min_lag, self.hurst_max_lag)
        return self


def _periods_per_year(candidates: pd.DataFrame, returns: pd.DataFrame) -> pd.Series:
    """Sessions per year of each candidate: its column, else 365 if it trades on weekends."""
    if "sessions_per_year" in candidates:
        given = pd.to_numeric(candidates["sessions_per_year"], errors="coerce")
    else:
        given = pd.Series(np.nan, index=candidates.index)
    if given.notna().all():
        return given.astype("float64")
    weekend = pd.Series(False, index=returns.columns)
    if isinstance(returns.index, pd.DatetimeIndex) and len(returns.columns):
        on_weekend = np.asarray(returns.index.day_of_week >= 5)
        weekend = returns.loc[on_weekend].notna().any(axis=0)
    inferred = candidates["symbol"].map(weekend.to_dict()).eq(True)
    return given.fillna(inferred.map({True: EVERY_DAY, False: WEEKDAYS_ONLY})).astype("float64")


def _moments(aligned: np.ndarray) -> dict[str, np.ndarray]:
    """Per column: count, mean, sample std, skewness, excess kurtosis, tail means."""
    finite = np.isfinite(aligned)
    n = finite.sum(axis=0).astype("float64")
    filled = np.where(finite, aligned, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = filled.sum(axis=0) / n
        centred = np.where(finite, aligned - mean, 0.0)
        m2 = (centred**2).sum(axis=0) / n
        std = np.sqrt(m2 * n / (n - 1))
        skew = (centred**3).sum(axis=0) / n / m2**1.5
        kurtosis = (centred**4).sum(axis=0) / n / m2**2 - 3.0
        ordered = np.sort(aligned, axis=0)  # NaN last
        k = np.maximum(1, np.ceil(TAIL_SHARE * n)).astype(np.int64)
        low_sums = np.nancumsum(ordered, axis=0)
        cols = np.arange(aligned.shape[1])
        last = np.clip(k - 1, 0, max(len(aligned) - 1, 0))
        low = low_sums[last, cols] / k if len(aligned) else np.full(len(cols), np.nan)
        high_sums = np.nancumsum(np.sort(-aligned, axis=0), axis=0)
        high = -high_sums[last, cols] / k if len(aligned) else np.full(len(cols), np.nan)
    flat = ~(m2 > 0)
    for values in (skew, kurtosis):
        values[flat] = np.nan
    empty = n == 0
    for values in (mean, std, low, high):
        values[empty] = np.nan
    return {"n": n, "mean": mean, "std": std, "skew": skew, "kurtosis": kurtosis,
            "low": low, "high": high}  # fmt: skip


def check_candidates(candidates: pd.DataFrame) -> pd.Series:
    """Each candidate's direction in upper case, after checking the required columns.

    Raises
    ------
    DataError
        ``symbol`` or ``direction`` is missing, a direction is not LONG or SHORT, or a symbol
        is missing.
    """
    missing = [c for c in ("symbol", "direction") if c not in candidates.columns]
    if missing:
        raise DataError(f"selection candidates: missing columns {missing}")
    direction = candidates["direction"].astype("str").str.upper()
    bad = sorted(set(direction) - set(DIRECTIONS))
    if bad:
        raise DataError(f"selection candidates: direction must be LONG or SHORT, found {bad[:3]}")
    if candidates["symbol"].isna().any():
        raise DataError("selection candidates: a symbol is missing")
    return direction


def build_features(
    returns: pd.DataFrame, candidates: pd.DataFrame, params: FeatureParams | None = None
) -> pd.DataFrame:
    """Compute the feature frame once for every candidate; scores, vetoes and clusters read it.

    Each listing is read on its own sessions (NaN dropped, order kept) over the whole window
    handed in. Direction-dependent features are computed on the direction-adjusted returns
    ``r~ = s r`` (``s = +1`` LONG, ``-1`` SHORT), so a short is scored as the synthetic long
    it becomes; for speed they come from per-listing statistics through exact identities
    (the mean, skewness and signed efficiency change sign; the best 5 % of ``-r`` are minus the
    worst 5 % of ``r``). Entropy, Hurst, efficiency, volatility and kurtosis do not depend on
    direction and are computed once per listing.

    Parameters
    ----------
    returns : DataFrame
        Daily simple returns: index market dates (ascending after sorting), one column per
        symbol, NaN off-session.
    candidates : DataFrame
        One row per candidate, any index: ``symbol``, ``direction`` (LONG/SHORT, any case);
        optional ``logic`` (default ``trend``), ``sessions_per_year`` (default: 365 if the
        listing has weekend returns, else 252), ``value_traded`` (ADV in USD) and ``adx`` (NaN
        when absent), ``identity`` (default: the symbol).
    params : FeatureParams, optional
        Windows and embeddings (defaults: `FeatureParams()`).

    Returns
    -------
    DataFrame
        Same index as ``candidates``; columns ``symbol``, ``identity`` (the candidate's, else
        its symbol: one winner per identity and direction), ``logic`` (the candidate's, else
        ``trend``: the vetoes and scores each logic reads), ``direction`` (upper case),
        ``sign`` (+1/-1), then ``FEATURE_COLUMNS``:

        - ``n_obs``: own returns in the window (0 when the symbol has none);
        - ``periods_per_year`` ``P``; ``momentum = mean(r~) P``;
          ``stability = 1 / (std(r) sqrt P)``;
        - ``entropy``: permutation entropy; ``hurst``: corrected R/S exponent;
        - ``efficiency``: ``|sum r| / sum |r|`` and ``efficiency_dir = sum r~ / sum |r|`` over
          the efficiency window;
        - ``adx``, ``liquidity``: the candidate's ADX(14) and ADV in USD (NaN when absent);
        - ``skew`` of ``r~``; ``tail_gain = (mean of the best 5 % + mean of the worst 5 %) / std``
          of ``r~`` (positive when gains in the right tail outsize losses in the left);
          ``antifragility = (skew + tail_gain) x min(1, n_obs / P)`` (history significance);
        - ``survival``: share of the panel's stress windows the listing traded through (NaN when
          it was listed after all of them, see `survival_shares`);
        - ``fragility = -(mean of the worst 5 % of r~) / std``: expected shortfall at 95 % in
          standard deviations; ``kurtosis``: excess kurtosis of ``r``;
        - ``autocorr``: lag-1 autocorrelation of ``r`` (`autocorrelation_columns`);
          ``half_life``: sessions in which a deviation from the last ``deviation_window``
          closes' mean halves (`half_life_columns`, ``HALF_LIFE_CAP`` when it does not revert);
          ``rating_ic``: correlation of the technical rating with the next ``rating_horizon``
          sessions' return over the window (`rating_ic_columns`). Direction-free: the
          mean-reversion and rating logics read them.

        Every feature is NaN for a candidate without returns.

    Raises
    ------
    DataError
        ``symbol`` or ``direction`` is missing, or a direction is not LONG or SHORT.
    ConfigError
        ``params`` out of range.
    """
    params = params or FeatureParams()
    direction = check_candidates(candidates)
    returns = returns.sort_index()
    symbols = candidates["symbol"].astype("str")
    listed = [s for s in dict.fromkeys(symbols) if s in returns.columns]
    periods = _periods_per_year(candidates, returns)
    group = dict(zip(symbols.iloc[::-1], periods.iloc[::-1], strict=True))  # first row wins
    aligned = bottom_align(returns[listed].to_numpy(dtype="float64", na_value=np.nan))
    stats = _moments(aligned)
    window = last_rows(aligned, params.efficiency_window)
    per_listing = pd.DataFrame(
        {
            "n_obs": stats["n"],
            "mean": stats["mean"],
            "std": stats["std"],
            "skew": stats["skew"],
            "kurtosis": stats["kurtosis"],
            "low": stats["low"],
            "high": stats["high"],
            "entropy": permutation_entropy_columns(
                aligned, params.entropy_order, params.entropy_delay
            ),
            "hurst": hurst_columns(aligned, params.hurst_min_lag, params.hurst_max_lag),
            "efficiency": efficiency_columns(window),
            "efficiency_signed": efficiency_columns(window, signed=True),
            "autocorr": autocorrelation_columns(aligned),
            "half_life": half_life_columns(aligned, params.deviation_window),
            "rating_ic": rating_ic_columns(aligned, params.rating_horizon),
            "survival": survival_shares(
                returns,
                listed,
                [group[s] for s in listed],
                params.stress_windows,
                params.stress_length,
            ),
        },
        index=pd.Index(listed, dtype="str"),
    )
    row = per_listing.reindex(symbols.to_numpy())
    row.index = candidates.index
    sign = direction.map(DIRECTIONS).astype("float64")
    n_obs = row["n_obs"].fillna(0.0)
    long = sign > 0
    best = row["high"].where(long, -row["low"])  # mean of the best 5 % of r~
    worst = row["low"].where(long, -row["high"])  # mean of the worst 5 % of r~
    skew = sign * row["skew"]
    tail_gain = (best + worst) / row["std"]
    identity = _optional_text(candidates, "identity").fillna(symbols)
    logic = _optional_text(candidates, "logic").fillna(DEFAULT_LOGIC)
    frame = pd.DataFrame(
        {
            "symbol": symbols,
            "identity": identity,
            "logic": logic,
            "direction": direction,
            "sign": sign,
            "n_obs": n_obs.astype("int64"),
            "periods_per_year": periods,
            "momentum": sign * row["mean"] * periods,
            "stability": 1.0 / (row["std"] * np.sqrt(periods)),
            "entropy": row["entropy"],
            "hurst": row["hurst"],
            "efficiency": row["efficiency"],
            "efficiency_dir": sign * row["efficiency_signed"],
            "adx": _optional(candidates, "adx"),
            "liquidity": _optional(candidates, "value_traded"),
            "skew": skew,
            "tail_gain": tail_gain,
            "antifragility": (skew + tail_gain) * np.minimum(1.0, n_obs / periods),
            "survival": row["survival"],
            "fragility": -worst / row["std"],
            "kurtosis": row["kurtosis"],
            "autocorr": row["autocorr"],
            "half_life": row["half_life"],
            "rating_ic": row["rating_ic"],
        },
        index=candidates.index,
    )
    numeric = list(FEATURE_COLUMNS[1:])
    frame[numeric] = frame[numeric].where(np.isfinite(frame[numeric]))
    return frame


def _optional_text(candidates: pd.DataFrame, column: str) -> pd.Series:
    """An optional text column, missing (NA) when absent."""
    if column not in candidates:
        return pd.Series(pd.NA, index=candidates.index, dtype="str")
    return candidates[column].astype("str").where(candidates[column].notna())


def _optional(candidates: pd.DataFrame, column: str) -> pd.Series:
    """A numeric optional column, NaN when absent or not a number."""
    if column not in candidates:
        return pd.Series(np.nan, index=candidates.index, dtype="float64")
    return pd.to_numeric(candidates[column], errors="coerce").astype("float64")
