"""Calibration of the regime detector: walk-forward Optuna search and the profile overlay."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tvs_pipeline.allocation.regime import (
    Regime,
    RegimeThresholds,
    classify_regimes,
    session_state,
    state_features,
    universe_sessions,
)
from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "REGIME_CLASSES",
    "SEARCH_SPACE",
    "TRUTH_CLASSES",
    "Objective",
    "RegimeCalibration",
    "balanced_accuracy",
    "calibrate_regime",
    "forward_volatility_objective",
    "regime_confusion",
    "regime_overlay",
    "write_regime_overlay",
]

TRUTH_CLASSES = ("calm", "turbulent", "crisis")
REGIME_CLASSES = {
    Regime.QUIET.value: "calm",
    Regime.NORMAL.value: "calm",
    Regime.TURBULENT.value: "turbulent",
    Regime.CRISIS.value: "crisis",
}
# (low, high, step) of each searched value. A crisis threshold is searched as the gap above
# the turbulent one, so every trial is ordered; the quiet threshold as a share of the
# turbulent one, and only under an objective (the truth has no quiet class).
SEARCH_SPACE: dict[str, tuple[float, float, float]] = {
    "short_window": (10, 40, 5),
    "turbulence_span": (1, 20, 1),
    "vol_ratio_turbulent": (1.0, 2.5, 0.05),
    "vol_ratio_crisis_gap": (0.0, 2.0, 0.05),
    "turbulence_turbulent": (1.0, 6.0, 0.1),
    "turbulence_crisis_gap": (0.0, 8.0, 0.1),
    "tail_share_turbulent": (0.0, 0.4, 0.025),
    "tail_share_crisis_gap": (0.0, 0.4, 0.025),
    "quorum": (1, 3, 1),
    "vol_ratio_quiet_share": (0.4, 1.0, 0.05),
}
INTEGERS = frozenset({"short_window", "turbulence_span", "quorum"})
DECIMALS = 6  # thresholds are rounded so a sum of grid steps reads as the grid value

Objective = Callable[[pd.DataFrame], float]


@dataclass(frozen=True)
class RegimeCalibration:
    """The outcome of ``calibrate_regime``.

    Attributes
    ----------
    thresholds : RegimeThresholds
        The best thresholds on every scored session (what a profile should use).
    score : float
        The out-of-fold score: the objective on the test blocks pooled, each block labelled
        by the thresholds calibrated on the sessions before it.
    folds : DataFrame
        One row per fold: ``fold``, ``train_start``, ``train_end``, ``test_start``,
        ``test_end`` (dates), ``train_score``, ``test_score``.
    readings : DataFrame
        The out-of-fold readings: index ``date``, columns ``label``, the features and
        ``fold``.
    """

    thresholds: RegimeThresholds
    score: float
    folds: pd.DataFrame
    readings: pd.DataFrame


def regime_confusion(labels: pd.Series, truth: pd.Series) -> pd.DataFrame:
    """Counts of each true regime against each label, over the dates of ``labels``.

    Parameters
    ----------
    labels : Series
        Index: dates; values: ``Regime`` names.
    truth : Series
        Index: dates (covering those of ``labels``); values: ``calm``, ``turbulent``,
        ``crisis`` (as ``DemoMarket.regimes()``).

    Returns
    -------
    DataFrame
        Index ``truth`` (``TRUTH_CLASSES``), columns ``label`` (the four regimes, calmest
        first), integer counts.

    Raises
    ------
    DataError
        A date of ``labels`` has no truth, or a value is not a known class or label.
    """
    counts = _counts(_label_codes(labels), _truth_codes(labels.index, truth))
    return pd.DataFrame(
        counts,
        index=pd.Index(TRUTH_CLASSES, name="truth"),
        columns=pd.Index([r.value for r in Regime], name="label"),
    )


def balanced_accuracy(labels: pd.Series, truth: pd.Series) -> float:
    """Mean recall over the true classes present: calm (QUIET or NORMAL), turbulent, crisis.

    Each class counts the same whatever its number of days, so labelling every day calm
    scores 1/3 (with three classes present), not the calm share.

    Raises
    ------
    DataError
        As ``regime_confusion``, or no day to score.
    """
    return _balanced(_counts(_label_codes(labels), _truth_codes(labels.index, truth)))


def forward_volatility_objective(
    returns: pd.DataFrame, horizon: int = 10, min_coverage: float = 0.6
) -> Objective:
    """A truth-free objective: how well the labels order the next sessions' volatility.

    The score of a set of readings is Kendall's tau-b between the label's rank (QUIET 0,
    NORMAL 1, TURBULENT 2, CRISIS 3) and the forward realised volatility
    ``sqrt(mean(m_{t+1..t+h}²))`` of the equal-weight index ``m`` over the universe's
    sessions. The regime is read to size risk over the coming days, so a good labelling is
    one whose higher labels come before more volatile stretches: tau rewards that ordering,
    is rank-based (one crash day cannot dominate it), and scores a constant labelling 0.
    Days without ``horizon`` forward sessions are not scored.

    Parameters
    ----------
    returns : DataFrame
        The whole panel (the score reads after each scored day; the detector never does).
    horizon : int, default 10
        Forward sessions (two weeks).
    min_coverage : float, default 0.6
        As ``RegimeThresholds.min_coverage``: which rows are sessions.

    Returns
    -------
    callable
        ``objective(readings) -> float`` on readings indexed by session dates.
    """
    from scipy.stats import kendalltau  # heavy: imported when an objective is built

    if horizon < 1:
        raise ConfigError(f"forward volatility horizon {horizon}: expected at least 1")
    rows = returns.loc[universe_sessions(returns, min_coverage).to_numpy()]
    index = rows.mean(axis=1)
    squares = (index**2).to_numpy()
    ahead = np.full(len(squares), np.nan)
    if len(squares) > horizon:
        window = np.lib.stride_tricks.sliding_window_view(squares[1:], horizon)
        ahead[: len(window)] = np.sqrt(window.mean(axis=1))
    forward = pd.Series(ahead, index=rows.index)
    rank = {r.value: position for position, r in enumerate(Regime)}

    def objective(readings: pd.DataFrame) -> float:
        """Kendall's tau-b of label rank and forward volatility over the readings' days."""
        vol = forward.reindex(readings.index).to_numpy()
        keep = ~np.isnan(vol)
        order = readings["label"].map(rank).to_numpy(dtype="float64")[keep]
        if keep.sum() < 2 or np.unique(order).size < 2:
            return 0.0
        tau = kendalltau(order, vol[keep]).statistic
        return 0.0 if math.isnan(tau) else float(tau)

    return objective


def calibrate_regime(
    returns: pd.DataFrame,
    truth_or_objective: pd.Series | Objective,
    folds: int = 4,
    n_trials: int = 100,
    seed: int = 0,
    *,
    base: RegimeThresholds | None = None,
    start: date | None = None,
    end: date | None = None,
    purge: int = 10,
) -> RegimeCalibration:
    """Search the detector's thresholds with Optuna, scored out of sample by walking forward.

    The scored sessions (``start..end``) are cut into ``folds + 1`` equal contiguous blocks.
    Fold ``k`` (1..folds) searches on blocks ``0..k-1`` less their last ``purge`` sessions
    (whose forward window or regime run reaches into the test block) and labels block ``k``
    with its best thresholds; the out-of-fold score is the objective on those labels pooled.
    The returned thresholds come from a last search on every scored session.

    Objective (maximised): with a truth series, the balanced accuracy of calm (QUIET or
    NORMAL) / turbulent / crisis (``balanced_accuracy``): each true class counts the same,
    so a detector cannot score by calling the majority class. Without truth, a callable on
    the readings, such as ``forward_volatility_objective``.

    Searched (``SEARCH_SPACE``): ``short_window``, ``turbulence_span`` and the six turbulent
    and crisis thresholds; ``vol_ratio_quiet`` only under a callable objective. ``base``
    fixes the rest (``base_window``, ``top_n``, ``max_correlation``, ``min_coverage``,
    ``tail_quantile``), so the turbulence is computed once, not once per trial.

    Parameters
    ----------
    returns : DataFrame
        Index: dates; columns: listings; daily simple returns, NaN off-session.
    truth_or_objective : Series or callable
        The true regime per date (``calm``, ``turbulent``, ``crisis``; e.g.
        ``DemoMarket.regimes()``), or ``objective(readings) -> float`` where ``readings``
        is a ``regime_series`` frame of the days to score.
    folds : int, default 4
        Walk-forward folds (>= 1).
    n_trials : int, default 100
        Optuna trials per search (>= 1).
    seed : int, default 0
        Seed of the TPE sampler (fold ``k`` uses ``seed + k``; the last search ``seed``).
    base : RegimeThresholds, optional
        The fixed values and the starting point; defaults to ``RegimeThresholds()``.
    start, end : date, optional
        The scored days; by default from the first session with history for the largest
        windows searched to the last row.
    purge : int, default 10
        Sessions dropped from the end of each training span.

    Returns
    -------
    RegimeCalibration
        The thresholds, the out-of-fold score, the folds and the out-of-fold readings.

    Raises
    ------
    ConfigError
        ``folds``, ``n_trials``, ``seed`` or ``purge`` is out of range.
    DataError
        Too few sessions for the folds, or a scored day without truth.
    ModuleNotFoundError
        Optuna is not installed (the ``research`` extra).

    References
    ----------
    Akiba, T. et al. (2019), "Optuna: a next-generation hyperparameter optimization
    framework", KDD. Bergstra, J. et al. (2011), "Algorithms for hyper-parameter
    optimization" (TPE), NeurIPS.
    """
    for name, value, low in (("folds", folds, 1), ("n_trials", n_trials, 1), ("seed", seed, 0)):
        if value < low:
            raise ConfigError(f"calibrate_regime: {name} {value}: expected at least {low}")
    if purge < 0:
        raise ConfigError(f"calibrate_regime: purge {purge}: expected at least 0")
    base = base or RegimeThresholds()
    searched = _searched(truth_or_objective)
    widest = base.updated(
        short_window=int(SEARCH_SPACE["short_window"][1]),
        turbulence_span=int(SEARCH_SPACE["turbulence_span"][1]),
    )
    last = pd.Timestamp(end) if end is not None else returns.index.max()
    first = _first_scored(returns, widest, start)
    state = session_state(returns.loc[:last], first, last.date(), widest)
    sessions = state.index[(state.index >= pd.Timestamp(first)) & (state.index <= last)]
    if len(sessions) < 2 * (folds + 1):
        raise DataError(
            f"calibrate_regime: {len(sessions)} scored sessions, expected at least "
            f"{2 * (folds + 1)} for {folds} folds"
        )
    score = _scorer(truth_or_objective, sessions)
    readings_of = _reader(state, sessions, base)
    blocks = np.array_split(np.arange(len(sessions)), folds + 1)
    rows, pooled = [], []
    for fold in range(1, folds + 1):
        train = slice(0, max(int(blocks[fold][0]) - purge, 1))
        test = slice(int(blocks[fold][0]), int(blocks[fold][-1]) + 1)
        search = (readings_of, score, train, base, searched, n_trials, seed + fold)
        best, train_score = _search(*search)
        labelled = readings_of(best).iloc[test].assign(fold=fold)
        pooled.append(labelled)
        rows.append(
            {
                "fold": fold,
                "train_start": sessions[train][0],
                "train_end": sessions[train][-1],
                "test_start": sessions[test][0],
                "test_end": sessions[test][-1],
                "train_score": train_score,
                "test_score": score(labelled),
            }
        )
    oof = pd.concat(pooled)
    everything = slice(0, len(sessions))
    final, _ = _search(readings_of, score, everything, base, searched, n_trials, seed)
    return RegimeCalibration(
        thresholds=final, score=float(score(oof)), folds=pd.DataFrame(rows), readings=oof
    )


def regime_overlay(thresholds: RegimeThresholds) -> dict[str, dict[str, Any]]:
    """The profile overlay of ``thresholds``: ``{"allocation": {"regime": {field: value}}}``.

    Only the fields that differ from ``RegimeThresholds()`` are written (a profile states
    what it changes), so ``RegimeThresholds.build(overlay["allocation"]["regime"])`` gives
    ``thresholds`` back.
    """
    default = RegimeThresholds().model_dump()
    changed = {k: v for k, v in thresholds.model_dump().items() if v != default[k]}
    return {"allocation": {"regime": changed}}


def write_regime_overlay(thresholds: RegimeThresholds, path: str | Path) -> Path:
    """Write ``regime_overlay(thresholds)`` to a YAML profile overlay.

    An existing file keeps its other keys; its ``allocation.regime`` block is replaced.

    Raises
    ------
    ConfigError
        The existing file is not a YAML mapping.
    """
    target = Path(path)
    document: dict[str, Any] = {}
    if target.exists():
        loaded = yaml.safe_load(target.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{target}: expected a YAML mapping, found {type(loaded).__name__}")
        document = dict(loaded or {})
    allocation = dict(document.get("allocation") or {})
    allocation.update(regime_overlay(thresholds)["allocation"])
    document["allocation"] = allocation
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def _searched(truth_or_objective: pd.Series | Objective) -> list[str]:
    """The names searched: every one but the quiet share under the truth."""
    if isinstance(truth_or_objective, pd.Series):
        return [name for name in SEARCH_SPACE if name != "vol_ratio_quiet_share"]
    if callable(truth_or_objective):
        return list(SEARCH_SPACE)
    raise ConfigError(
        "calibrate_regime: truth_or_objective is a "
        f"{type(truth_or_objective).__name__}, expected a Series of regimes or a callable"
    )


def _first_scored(returns: pd.DataFrame, widest: RegimeThresholds, start: date | None) -> date:
    """``start``, or the first session with history for the widest windows searched."""
    if start is not None:
        return start
    sessions = returns.index[universe_sessions(returns, widest.min_coverage).to_numpy()]
    if len(sessions) < widest.history:
        raise DataError(
            f"calibrate_regime: {len(sessions)} sessions, expected at least "
            f"{widest.history} (the widest windows searched)"
        )
    return sessions[widest.history - 1].date()


def _scorer(truth_or_objective: pd.Series | Objective, sessions: pd.DatetimeIndex) -> Objective:
    """The objective on readings: balanced accuracy against the truth, or the callable."""
    if not isinstance(truth_or_objective, pd.Series):
        return truth_or_objective
    truth = pd.Series(_truth_codes(sessions, truth_or_objective), index=sessions)

    def score(readings: pd.DataFrame) -> float:
        codes = truth.reindex(readings.index).to_numpy()
        return _balanced(_counts(_label_codes(readings["label"]), codes))

    return score


def _reader(
    state: pd.DataFrame, sessions: pd.DatetimeIndex, base: RegimeThresholds
) -> Callable[[RegimeThresholds], pd.DataFrame]:
    """Readings of every scored session under given thresholds (features cached by window)."""
    cache: dict[tuple[int, int], pd.DataFrame] = {}
    first, last = sessions[0].date(), sessions[-1].date()

    def readings_of(thresholds: RegimeThresholds) -> pd.DataFrame:
        key = (thresholds.short_window, thresholds.turbulence_span)
        if key not in cache:
            cache[key] = state_features(state, first, last, thresholds)
        features = cache[key]
        return pd.concat([classify_regimes(features, thresholds), features], axis=1)

    return readings_of


def _thresholds(base: RegimeThresholds, values: dict[str, float]) -> RegimeThresholds:
    """Thresholds from searched values (gaps and shares turned into thresholds)."""
    changes: dict[str, Any] = {
        "short_window": int(values["short_window"]),
        "turbulence_span": int(values["turbulence_span"]),
        "quorum": int(values["quorum"]),
    }
    for feature in ("vol_ratio", "turbulence", "tail_share"):
        turbulent = values[f"{feature}_turbulent"]
        changes[f"{feature}_turbulent"] = round(turbulent, DECIMALS)
        crisis = turbulent + values[f"{feature}_crisis_gap"]
        if feature == "tail_share":
            crisis = min(crisis, 1.0)  # a share
        changes[f"{feature}_crisis"] = round(crisis, DECIMALS)
    if "vol_ratio_quiet_share" in values:
        quiet = values["vol_ratio_quiet_share"] * values["vol_ratio_turbulent"]
        changes["vol_ratio_quiet"] = round(quiet, DECIMALS)
    return base.updated(**changes)


def _start_values(
    base: RegimeThresholds, searched: list[str], low_turbulent: float
) -> dict[str, float]:
    """The searched values of ``base``, snapped to the grid: the first trial of a search."""
    turbulent = max(base.vol_ratio_turbulent, low_turbulent)
    values = {
        "short_window": base.short_window,
        "turbulence_span": base.turbulence_span,
        "quorum": base.quorum,
        "vol_ratio_turbulent": turbulent,
        "vol_ratio_quiet_share": base.vol_ratio_quiet / turbulent,
    }
    for feature in ("vol_ratio", "turbulence", "tail_share"):
        values.setdefault(f"{feature}_turbulent", getattr(base, f"{feature}_turbulent"))
        gap = getattr(base, f"{feature}_crisis") - values[f"{feature}_turbulent"]
        values[f"{feature}_crisis_gap"] = gap
    snapped = {}
    for name in searched:
        low, high, step = SEARCH_SPACE[name]
        if name == "vol_ratio_turbulent" and "vol_ratio_quiet_share" not in searched:
            low = low_turbulent
        on_grid = low + step * round((min(max(values[name], low), high) - low) / step)
        snapped[name] = int(on_grid) if name in INTEGERS else round(on_grid, DECIMALS)
    return snapped


def _search(
    readings_of: Callable[[RegimeThresholds], pd.DataFrame],
    score: Objective,
    days: slice,
    base: RegimeThresholds,
    searched: list[str],
    n_trials: int,
    seed: int,
) -> tuple[RegimeThresholds, float]:
    """The best thresholds on the sessions ``days`` after ``n_trials`` TPE trials, and the score."""
    try:
        import optuna
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "calibrate_regime needs optuna: pip install 'tvs_pipeline[research]'"
        ) from err
    low_turbulent = max(SEARCH_SPACE["vol_ratio_turbulent"][0], base.vol_ratio_quiet)

    def trial_value(trial: optuna.Trial) -> float:
        values: dict[str, float] = {}
        for name in searched:
            low, high, step = SEARCH_SPACE[name]
            if name == "vol_ratio_turbulent" and "vol_ratio_quiet_share" not in searched:
                low = low_turbulent  # the fixed quiet threshold stays below it
            if name in INTEGERS:
                values[name] = trial.suggest_int(name, int(low), int(high), step=int(step))
            else:
                values[name] = trial.suggest_float(name, float(low), float(high), step=step)
        return score(readings_of(_thresholds(base, values)).iloc[days])

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.enqueue_trial(_start_values(base, searched, low_turbulent))
        study.optimize(trial_value, n_trials=n_trials)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return _thresholds(base, study.best_params), float(study.best_value)


def _label_codes(labels: pd.Series) -> np.ndarray:
    """Position of each label in ``Regime`` (QUIET 0 .. CRISIS 3)."""
    codes = pd.Index([r.value for r in Regime]).get_indexer(labels.to_numpy())
    if (codes < 0).any():
        bad = labels.to_numpy()[codes < 0][0]
        raise DataError(f"regime labels: unknown label {bad!r} (expected a Regime name)")
    return codes.astype(np.int64)


def _truth_codes(dates: pd.Index, truth: pd.Series) -> np.ndarray:
    """Position of the true class of each date in ``TRUTH_CLASSES``."""
    aligned = truth.reindex(dates)
    if aligned.isna().any():
        missing = dates[aligned.isna().to_numpy()][0]
        raise DataError(f"regime truth: no true regime on {pd.Timestamp(missing).date()}")
    codes = pd.Index(TRUTH_CLASSES).get_indexer(aligned.to_numpy())
    if (codes < 0).any():
        bad = aligned.to_numpy()[codes < 0][0]
        raise DataError(f"regime truth: unknown class {bad!r} (expected one of {TRUTH_CLASSES})")
    return codes.astype(np.int64)


def _counts(label_codes: np.ndarray, truth_codes: np.ndarray) -> np.ndarray:
    """Confusion counts, truth (3) x labels (4)."""
    cells = np.bincount(truth_codes * len(Regime) + label_codes, minlength=3 * len(Regime))
    return cells.reshape(len(TRUTH_CLASSES), len(Regime))


def _balanced(counts: np.ndarray) -> float:
    """Mean recall over the truth rows present; QUIET and NORMAL both count as calm."""
    hits = np.array([counts[0, 0] + counts[0, 1], counts[1, 2], counts[2, 3]])
    days = counts.sum(axis=1)
    if not days.any():
        raise DataError("regime balanced accuracy: no day to score")
    return float((hits[days > 0] / days[days > 0]).mean())
