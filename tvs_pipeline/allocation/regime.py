"""The market regime detector: QUIET, NORMAL, TURBULENT or CRISIS from returns up to a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from statistics import NormalDist
from typing import Self

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from tvs_pipeline.errors import DataError, LookAheadError
from tvs_pipeline.parameters import Parameters

__all__ = [
    "COVERAGE_ROWS",
    "FEATURE_COLUMNS",
    "REGIME_COLUMNS",
    "Regime",
    "RegimeReading",
    "RegimeThresholds",
    "classify_regimes",
    "detect_regime",
    "regime_features",
    "regime_series",
    "session_state",
    "state_features",
    "universe_sessions",
]

FEATURE_COLUMNS = ("vol_ratio", "turbulence", "tail_share", "listings")
REGIME_COLUMNS = ("label", *FEATURE_COLUMNS)
# A row's coverage is measured against the fullest row among the last COVERAGE_ROWS rows: two
# calendar weeks, so a weekend or a holiday never sets the reference, and a universe that loses
# listings for good is back to full coverage within two weeks.
COVERAGE_ROWS = 10
# The turbulence cross-section is filled from candidates in rank order, BLOCK_PER_SLOT x top_n
# at a time: one small correlation matrix per block instead of one over every listing.
BLOCK_PER_SLOT = 2


class Regime(StrEnum):
    """The four readings, calmest first."""

    QUIET = "QUIET"
    NORMAL = "NORMAL"
    TURBULENT = "TURBULENT"
    CRISIS = "CRISIS"


class RegimeThresholds(Parameters):
    """Windows and thresholds of the regime detector.

    Windows count sessions (see ``universe_sessions``). Each feature has a turbulent and a
    crisis threshold; a feature votes 0 (calm), 1 (turbulent) or 2 (crisis) and the day's
    level is the highest that ``quorum`` features vote for. A calm day is QUIET when its
    volatility ratio is below ``vol_ratio_quiet``, otherwise NORMAL.

    The thresholds, ``short_window``, ``turbulence_span`` and ``quorum`` are
    ``calibrate_regime``'s choice on ``DemoMarket(seed=11)`` and ``DemoMarket(seed=23)``
    (2022-04..2028-12, 300 trials, reference quantile 0.25), rounded between the two; seed 7
    is kept out of the tuning to score them (docs/methodology.md, market regime).
    """

    base_window: int = Field(250, ge=60)
    """Sessions in the baseline before the short window: a year, so a reading compares the
    present with a full cycle of the past, and a 500-day lookback still holds its history."""
    short_window: int = Field(20, ge=5)
    """Sessions of the recent window: a month, the horizon both calibrations chose."""
    turbulence_span: int = Field(5, ge=1)
    """Sessions over which the daily turbulence is averaged: a week (one day is noisy)."""
    top_n: int = Field(30, ge=2)
    """Listings in the turbulence cross-section: with 250 baseline sessions, about 8
    observations per covariance parameter, so the shrunk estimate stays well conditioned."""
    max_correlation: float = Field(0.95, gt=0.0, le=1.0)
    """A listing this correlated with one already chosen is skipped: a second venue of a
    coin (0.999) adds a near-zero-variance direction, not information."""
    min_coverage: float = Field(0.6, ge=0.0, le=1.0)
    """A row is a session when it holds this share of the fullest recent row's returns:
    drops crypto-only weekends from a mixed universe (about 40 %), keeps a crypto universe's."""
    reference_quantile: float = Field(0.25, gt=0.0, lt=1.0)
    """Quantile of the baseline taken as its reference level: the calmer quarter, so the
    reference holds while up to three quarters of the baseline were stressed."""
    tail_quantile: float = Field(0.05, gt=0.0, lt=0.5)
    """A tail day falls below this Gaussian quantile of the reference month (5 %)."""
    vol_ratio_quiet: float = Field(0.9, gt=0.0)
    """Below this volatility ratio a calm day reads QUIET (about 15 % of a stationary null)."""
    vol_ratio_turbulent: float = Field(2.3, gt=0.0)
    """Volatility ratio voting turbulent (calibrated 2.25 and 2.35)."""
    vol_ratio_crisis: float = Field(3.4, gt=0.0)
    """Volatility ratio voting crisis (calibrated 3.25 and 3.5)."""
    turbulence_turbulent: float = Field(3.0, gt=0.0)
    """Mean turbulence voting turbulent (calibrated 2.9 and 3.0; 1 is a reference day)."""
    turbulence_crisis: float = Field(8.0, gt=0.0)
    """Mean turbulence voting crisis (calibrated 7.8 and 8.1)."""
    tail_share_turbulent: float = Field(0.25, ge=0.0, le=1.0)
    """Share of tail days in the short window voting turbulent (5 times the reference's)."""
    tail_share_crisis: float = Field(0.5, ge=0.0, le=1.0)
    """Share of tail days in the short window voting crisis (half the month)."""
    quorum: int = Field(1, ge=1, le=3)
    """Features that must vote for a level (1: any, 2: a majority, 3: all): 1, because a
    late alarm costs more than the 4 % of a stationary null it raises."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """Each feature's thresholds rise from calm to crisis."""
        pairs = [
            ("vol_ratio_quiet", "vol_ratio_turbulent"),
            ("vol_ratio_turbulent", "vol_ratio_crisis"),
            ("turbulence_turbulent", "turbulence_crisis"),
            ("tail_share_turbulent", "tail_share_crisis"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} {getattr(self, low)!r} is above {high} {getattr(self, high)!r}"
                    " (expected thresholds rising from calm to crisis)"
                )
        return self

    @property
    def history(self) -> int:
        """Sessions of history a reading needs, the day itself included."""
        return self.base_window + max(2 * self.short_window - 1, self.turbulence_span)


@dataclass(frozen=True)
class RegimeReading:
    """The regime of one day and the features it was read from.

    ``session`` is the last session at or before ``as_of`` (the reading's data ends there).
    """

    as_of: date
    session: date
    label: Regime
    vol_ratio: float
    turbulence: float
    tail_share: float
    listings: int


def universe_sessions(returns: pd.DataFrame, min_coverage: float) -> pd.Series:
    """Which rows of a returns panel are sessions of the universe.

    A row's coverage is its count of returns over the largest count among the last
    ``COVERAGE_ROWS`` rows (itself included). A mixed panel of equities and crypto has rows for
    weekends and exchange holidays that hold crypto alone; their index would be a crypto index
    with twice the volatility, so they are not sessions. The crypto weekend then reaches the
    detector only through Monday's own-session return.

    Parameters
    ----------
    returns : DataFrame
        Index: dates, increasing; columns: listings; NaN off-session.
    min_coverage : float
        Share of the reference count a row must hold.

    Returns
    -------
    Series
        Boolean, indexed like ``returns``.
    """
    count = returns.notna().sum(axis=1)
    reference = count.rolling(COVERAGE_ROWS, min_periods=1).max()
    return (count > 0) & (count >= min_coverage * reference)


def session_state(
    returns: pd.DataFrame, start: date, end: date, thresholds: RegimeThresholds
) -> pd.DataFrame:
    """The equal-weight index and the day's turbulence on every session up to ``end``.

    The expensive half of the detector (one covariance per session); ``state_features`` turns
    it into features for any short window, span or tail quantile without refitting.

    - ``index``: ``m = mean`` of the session's observed returns (equal weight).
    - ``turbulence_day = d² / quantile(d_s²)`` with ``d² = (x − μ)ᵀ Σ⁻¹ (x − μ)``: ``x``
      the session's returns of ``k`` listings, ``μ`` their mean and ``Σ`` their Ledoit-Wolf
      covariance over the ``base_window`` sessions before it (Kritzman and Li's turbulence
      index); the reference is the ``reference_quantile`` of the same estimate's ``d_s²``
      over those baseline sessions, so 1 is a day as unusual as the baseline's reference
      day, whatever the shrinkage, the number of listings or the share of stressed days in
      the baseline (below ``1 − reference_quantile``). The
      listings are those observed on all ``base_window + 1`` sessions, ranked by the
      absolute correlation of their baseline returns with the index (the most market-like
      first); one correlated above ``max_correlation`` with a listing already chosen is
      skipped, up to ``top_n``.

    Parameters
    ----------
    returns : DataFrame
        Index: dates (naive, increasing, unique); columns: listings; daily simple returns, NaN
        off-session. Nothing after ``end``.
    start, end : date
        Turbulence is computed on the sessions in ``[start, end]`` and on the
        ``turbulence_span − 1`` sessions before the first of them.
    thresholds : RegimeThresholds
        ``min_coverage``, ``base_window``, ``top_n``, ``max_correlation``, ``turbulence_span``.

    Returns
    -------
    DataFrame
        Index ``date``: every session up to ``end``; columns ``index`` (float),
        ``turbulence_day`` (float, NaN where not computed or without a full baseline) and
        ``listings`` (int, ``k``; 0 where not computed).

    Raises
    ------
    LookAheadError
        ``returns`` holds a row after ``end``.
    DataError
        The panel is malformed, ``start`` is after ``end``, no session lies in the range, or
        fewer than two listings are complete over a baseline.

    References
    ----------
    Kritzman, M. and Li, Y. (2010), "Skulls, financial turbulence, and risk management",
    Financial Analysts Journal 66(5), 30-41.
    Ledoit, O. and Wolf, M. (2004), "A well-conditioned estimator for large-dimensional
    covariance matrices", Journal of Multivariate Analysis 88(2), 365-411.
    """
    _check_panel(returns, start, end)
    rows = returns.loc[universe_sessions(returns, thresholds.min_coverage).to_numpy()]
    dates = pd.DatetimeIndex(rows.index, name="date")
    wanted = np.flatnonzero(dates >= pd.Timestamp(start))
    if len(wanted) == 0:
        raise DataError(f"regime {start}..{end}: no session in the range")
    x = rows.to_numpy(dtype="float64")
    index = np.nanmean(x, axis=1)
    first = max(int(wanted[0]) - thresholds.turbulence_span + 1, thresholds.base_window)
    daily = np.full(len(x), np.nan)
    listings = np.zeros(len(x), dtype=np.int64)
    if first < len(x):
        positions = np.arange(first, len(x))
        daily[first:], listings[first:] = _turbulence(x, index, positions, dates, thresholds)
    return pd.DataFrame(
        {"index": index, "turbulence_day": daily, "listings": listings}, index=dates
    )


def state_features(
    state: pd.DataFrame, start: date, end: date, thresholds: RegimeThresholds
) -> pd.DataFrame:
    """The detector's features on every session in ``[start, end]``, from ``session_state``.

    With ``m`` the index, ``s = short_window``, ``L = base_window`` and the baseline the ``L``
    sessions before the short window:

    - ``vol_ratio = σ_s(t) / σ_ref``, ``σ_s(u)`` the standard deviation of ``m`` over the
      ``s`` sessions ending ``u`` and ``σ_ref`` the ``reference_quantile`` of ``σ_s`` over
      the baseline: this month's volatility over a calm baseline month. A low quantile keeps
      a stressed baseline from raising the reference, and leaving the short window out of
      the baseline lifts the cap of ``sqrt(L / s)`` that a window nested in its reference has.
    - ``turbulence``: the mean ``turbulence_day`` over the last ``turbulence_span`` sessions.
    - ``tail_share``: the share of the last ``s`` index returns below
      ``Φ⁻¹(tail_quantile) × σ_ref``, the Gaussian ``tail_quantile`` quantile of the
      reference month: a count of bad days, which one crash day cannot dominate.

    Parameters
    ----------
    state : DataFrame
        As ``session_state`` returns it (index: sessions).
    start, end : date
        Inclusive range of days.
    thresholds : RegimeThresholds
        ``short_window``, ``base_window``, ``turbulence_span``, ``tail_quantile``.

    Returns
    -------
    DataFrame
        Index ``date`` (the sessions in ``[start, end]``); columns ``FEATURE_COLUMNS``
        (``listings``: ``k`` on the session itself).

    Raises
    ------
    DataError
        ``start`` is after ``end``, no session lies in the range, the first session has
        fewer than ``thresholds.history`` sessions of history, or ``state`` lacks the
        turbulence of a session the span needs.
    """
    if pd.Timestamp(start) > pd.Timestamp(end):
        raise DataError(f"regime: start {start} is after end {end}")
    dates = state.index
    wanted = np.flatnonzero((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end)))
    if len(wanted) == 0:
        raise DataError(f"regime {start}..{end}: no session in the range")
    first, last = int(wanted[0]), int(wanted[-1])
    if first + 1 < thresholds.history:
        raise DataError(
            f"regime {dates[first].date()}: needs {thresholds.history} sessions of history "
            f"(base_window + 2 × short_window − 1 and base_window + turbulence_span), "
            f"found {first + 1}"
        )
    vol_ratio, tail_share = _index_features(state["index"].to_numpy(), thresholds)
    span = thresholds.turbulence_span
    daily = state["turbulence_day"].to_numpy()[first - span + 1 : last + 1]
    if np.isnan(daily).any():
        raise DataError(
            f"regime {dates[first].date()}: the state lacks turbulence on the "
            f"{span} sessions the span needs (compute it with this start and span)"
        )
    turbulence = np.lib.stride_tricks.sliding_window_view(daily, span).mean(axis=1)
    chosen = slice(first, last + 1)
    return pd.DataFrame(
        {
            "vol_ratio": vol_ratio[chosen],
            "turbulence": turbulence,
            "tail_share": tail_share[chosen],
            "listings": state["listings"].to_numpy()[chosen],
        },
        index=pd.DatetimeIndex(dates[chosen], name="date"),
    )


def regime_features(
    returns: pd.DataFrame, start: date, end: date, thresholds: RegimeThresholds
) -> pd.DataFrame:
    """The detector's features on every session in ``[start, end]``, each from data up to it.

    ``state_features`` of ``session_state``: see both for the formulas.

    Parameters
    ----------
    returns : DataFrame
        Index: dates (naive, increasing, unique); columns: listings; daily simple returns, NaN
        off-session. Nothing after ``end``.
    start, end : date
        Inclusive range of days.
    thresholds : RegimeThresholds
        Windows, coverage and cross-section of the features.

    Returns
    -------
    DataFrame
        Index ``date`` (the sessions in ``[start, end]``); columns ``FEATURE_COLUMNS``.

    Raises
    ------
    LookAheadError, DataError
        As ``session_state`` and ``state_features``.
    """
    state = session_state(returns, start, end, thresholds)
    return state_features(state, start, end, thresholds)


def classify_regimes(features: pd.DataFrame, thresholds: RegimeThresholds) -> pd.Series:
    """The label of each row of ``regime_features``: the level ``quorum`` features vote for.

    A feature votes 2 at or above its crisis threshold, 1 at or above its turbulent threshold,
    else 0. The level is the ``quorum``-th highest vote: the highest level that at least
    ``quorum`` features reach (1: any feature, 2: the median, 3: all three). Level 2 is
    CRISIS, 1 TURBULENT; 0 is QUIET when ``vol_ratio`` is below ``vol_ratio_quiet``, else
    NORMAL.

    Returns
    -------
    Series
        Labels (``Regime`` values as str), indexed like ``features``, name ``label``.
    """
    t = thresholds
    votes = np.column_stack(
        [
            _vote(features["vol_ratio"], t.vol_ratio_turbulent, t.vol_ratio_crisis),
            _vote(features["turbulence"], t.turbulence_turbulent, t.turbulence_crisis),
            _vote(features["tail_share"], t.tail_share_turbulent, t.tail_share_crisis),
        ]
    )
    level = -np.sort(-votes, axis=1)[:, t.quorum - 1]
    quiet = features["vol_ratio"].to_numpy() < t.vol_ratio_quiet
    labels = np.select(
        [level >= 2, level >= 1, quiet],
        [Regime.CRISIS.value, Regime.TURBULENT.value, Regime.QUIET.value],
        Regime.NORMAL.value,
    )
    return pd.Series(labels, index=features.index, name="label", dtype="str")


def regime_series(
    returns: pd.DataFrame, start: date, end: date, thresholds: RegimeThresholds | None = None
) -> pd.DataFrame:
    """The regime of every session in ``[start, end]``, each read from data up to it.

    Parameters
    ----------
    returns : DataFrame
        Index: dates; columns: listings; daily simple returns, NaN off-session (e.g.
        ``wide_returns`` of the normalization panel). Nothing after ``end``.
    start, end : date
        Inclusive range of days.
    thresholds : RegimeThresholds, optional
        Defaults to ``RegimeThresholds()``.

    Returns
    -------
    DataFrame
        Index ``date`` (sessions); columns ``REGIME_COLUMNS``: ``label`` (str) and the features
        of ``regime_features``.

    Raises
    ------
    LookAheadError, DataError
        As ``regime_features``.
    """
    thresholds = thresholds or RegimeThresholds()
    features = regime_features(returns, start, end, thresholds)
    return pd.concat([classify_regimes(features, thresholds), features], axis=1)


def detect_regime(
    returns: pd.DataFrame, as_of: date, thresholds: RegimeThresholds | None = None
) -> RegimeReading:
    """The regime of ``as_of``, read at the last session at or before it.

    Parameters
    ----------
    returns : DataFrame
        As ``regime_series``; nothing after ``as_of``.
    as_of : date
        The day.
    thresholds : RegimeThresholds, optional
        Defaults to ``RegimeThresholds()``.

    Returns
    -------
    RegimeReading
        The label and the features.

    Raises
    ------
    LookAheadError
        ``returns`` holds a row after ``as_of``.
    DataError
        The panel is malformed or too short (see ``regime_features``).
    """
    thresholds = thresholds or RegimeThresholds()
    _check_panel(returns, as_of, as_of)
    sessions = returns.index[universe_sessions(returns, thresholds.min_coverage).to_numpy()]
    if len(sessions) == 0:
        raise DataError(f"regime {as_of}: the panel holds no session")
    session = sessions[-1]
    upto = returns.loc[:session]  # rows after the session are off-session (a weekend)
    row = regime_series(upto, session.date(), session.date(), thresholds).iloc[0]
    return RegimeReading(
        as_of=as_of,
        session=session.date(),
        label=Regime(row["label"]),
        vol_ratio=float(row["vol_ratio"]),
        turbulence=float(row["turbulence"]),
        tail_share=float(row["tail_share"]),
        listings=int(row["listings"]),
    )


def _check_panel(returns: pd.DataFrame, start: date, end: date) -> None:
    """Raise on a malformed panel, a reversed range or rows after ``end``."""
    if not isinstance(returns, pd.DataFrame):
        raise DataError(f"regime: returns is a {type(returns).__name__}, expected a DataFrame")
    index = returns.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is not None:
        found = f"tz-aware ({index.tz})" if getattr(index, "tz", None) else type(index).__name__
        raise DataError(f"regime: returns index is {found}, expected naive dates")
    if not (returns.index.is_monotonic_increasing and returns.index.is_unique):
        raise DataError("regime: returns dates are not increasing and unique")
    if pd.Timestamp(start) > pd.Timestamp(end):
        raise DataError(f"regime: start {start} is after end {end}")
    if len(returns) and returns.index[-1] > pd.Timestamp(end):
        raise LookAheadError(f"regime: returns row {returns.index[-1].date()} is after {end}")
    values = returns.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(values).any():
        column = returns.columns[np.isinf(values).any(axis=0)][0]
        raise DataError(f"regime: returns of {column} hold an infinite value (expected finite)")


def _index_features(index: np.ndarray, t: RegimeThresholds) -> tuple[np.ndarray, np.ndarray]:
    """Volatility ratio and tail share of the index on every session (NaN without history)."""
    m = pd.Series(index)
    s, base = t.short_window, t.base_window
    short_std = m.rolling(s).std()
    typical = short_std.rolling(base).quantile(t.reference_quantile).shift(s).to_numpy()
    threshold = NormalDist().inv_cdf(t.tail_quantile) * typical
    below = np.zeros(len(index))
    for lag in range(s):  # the short window against one baseline threshold per day
        below[lag:] += index[: len(index) - lag] < threshold[lag:]
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_ratio = short_std.to_numpy() / typical
    tail_share = np.where(np.isnan(typical), np.nan, below / s)
    return vol_ratio, tail_share


def _turbulence(
    x: np.ndarray,
    index: np.ndarray,
    positions: np.ndarray,
    dates: pd.DatetimeIndex,
    t: RegimeThresholds,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative ``d² / k`` and ``k`` on each session position, each against its own baseline."""
    import sklearn  # heavy: imported when a covariance is fitted, not with the module
    from sklearn.covariance import ledoit_wolf

    base = t.base_window
    observed = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(~np.isnan(x), axis=0)])
    daily, listings = np.full(len(positions), np.nan), np.zeros(len(positions), dtype=np.int64)
    for slot, p in enumerate(positions.tolist()):
        columns = np.flatnonzero(observed[p + 1] - observed[p - base] == base + 1)
        window = x[p - base : p][:, columns]
        chosen = _cross_section(window, index[p - base : p], t)
        if len(chosen) < 2:
            raise DataError(
                f"regime {dates[p].date()}: {len(chosen)} listing(s) observed on all "
                f"{base + 1} sessions of the turbulence window, expected at least 2"
            )
        baseline = window[:, chosen]
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            covariance, _ = ledoit_wolf(baseline)  # checked once in _check_panel
        mean = baseline.mean(axis=0)
        deviations = np.vstack([baseline, x[p, columns[chosen]]]) - mean
        solved = np.linalg.solve(covariance, deviations.T)
        distance = (deviations.T * solved).sum(axis=0)  # d² of every baseline day, then day p
        daily[slot] = distance[-1] / np.quantile(distance[:-1], t.reference_quantile)
        listings[slot] = len(chosen)
    return daily, listings


def _cross_section(window: np.ndarray, index: np.ndarray, t: RegimeThresholds) -> np.ndarray:
    """Columns of ``window`` to use: most index-like first, no near twin of one already in."""
    centred = window - window.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    alive = np.flatnonzero(scale > 0)  # a constant listing has no correlation to rank by
    m = index - index.mean()
    ranked = alive[np.argsort(-np.abs((centred[:, alive] / scale[alive]).T @ m), kind="stable")]
    z = centred[:, ranked] / scale[ranked]
    chosen: list[int] = []
    size = BLOCK_PER_SLOT * t.top_n
    for lo in range(0, len(ranked), size):  # blocks of candidates, in rank order
        block = z[:, lo : lo + size]
        twin = np.zeros(block.shape[1], dtype=bool)
        if chosen:
            twin = np.abs(block.T @ z[:, chosen]).max(axis=1) > t.max_correlation
        within = np.abs(block.T @ block)
        added: list[int] = []
        for j in np.flatnonzero(~twin).tolist():
            if not added or within[j, added].max() <= t.max_correlation:
                added.append(j)
                chosen.append(lo + j)
                if len(chosen) == t.top_n:
                    return ranked[chosen]
    return ranked[chosen]


def _vote(feature: pd.Series, turbulent: float, crisis: float) -> np.ndarray:
    """0 below ``turbulent``, 1 from it, 2 from ``crisis``."""
    values = feature.to_numpy(dtype="float64")
    return (values >= turbulent).astype(np.int64) + (values >= crisis)
