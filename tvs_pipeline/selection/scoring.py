"""Metric probabilities and the two conviction scores: Log-MPS (HTR) and the CARS rank-sum."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.parameters import Parameters

__all__ = [
    "DEFAULT_FRAGILITY_PENALTY",
    "METRICS",
    "CarsWeights",
    "ConvictionWeights",
    "Metric",
    "RatingCarsWeights",
    "RatingWeights",
    "ReversionCarsWeights",
    "ReversionWeights",
    "cars_score",
    "check_weights",
    "log_mps_score",
    "map_probability",
    "metric_probabilities",
]

Method = Literal["rank", "normal"]
Z_CLIP = 3.0


@dataclass(frozen=True)
class Metric:
    """How one feature becomes a probability: its column, the map, and which end is good."""

    column: str
    method: Method
    higher_is_better: bool = True
    log10: bool = False


METRICS: dict[str, Metric] = {
    "momentum": Metric("momentum", "rank"),
    "stability": Metric("stability", "rank"),
    "efficiency": Metric("efficiency_dir", "normal"),
    "entropy": Metric("entropy", "rank", higher_is_better=False),
    "hurst": Metric("hurst", "normal"),
    "adx": Metric("adx", "normal"),
    "liquidity": Metric("liquidity", "normal", log10=True),
    "antifragility": Metric("antifragility", "rank"),
    "survival": Metric("survival", "normal"),
    "fragility": Metric("fragility", "rank", higher_is_better=False),
    "kurtosis": Metric("kurtosis", "rank", higher_is_better=False),
    # The mean-reversion and rating logics' metrics (weight 0 in the trend's scores).
    "reversion": Metric("autocorr", "normal", higher_is_better=False),
    "anti_persistence": Metric("hurst", "normal", higher_is_better=False),
    "half_life": Metric("half_life", "rank", higher_is_better=False),
    "rating_ic": Metric("rating_ic", "normal"),
}
# Largest share of a Log-MPS score the fragility penalty takes; docs/methodology.md, section 8.
DEFAULT_FRAGILITY_PENALTY = 0.5


class ConvictionWeights(Parameters):
    """Log-MPS exponents of ``htr_3_4`` by metric; 0 drops a metric (methodology, section 8).

    Fragility enters as the penalty (``fragility_penalty``) instead of an exponent.
    """

    momentum: float = Field(1.0, ge=0, le=10)
    efficiency: float = Field(2.0, ge=0, le=10)
    stability: float = Field(0.5, ge=0, le=10)
    entropy: float = Field(0.25, ge=0, le=10)
    hurst: float = Field(0.5, ge=0, le=10)
    adx: float = Field(0.25, ge=0, le=10)
    liquidity: float = Field(0.25, ge=0, le=10)
    antifragility: float = Field(0.25, ge=0, le=10)
    survival: float = Field(1.0, ge=0, le=10)
    kurtosis: float = Field(0.25, ge=0, le=10)
    reversion: float = Field(0.0, ge=0, le=10)
    anti_persistence: float = Field(0.0, ge=0, le=10)
    half_life: float = Field(0.0, ge=0, le=10)
    rating_ic: float = Field(0.0, ge=0, le=10)


class ReversionWeights(ConvictionWeights):
    """Log-MPS exponents of the mean-reversion logic: reversal strength, not trend strength.

    Negative lag-1 autocorrelation (``reversion``), a low Hurst exponent
    (``anti_persistence``) and a short half-life carry the conviction; momentum, efficiency,
    the trend's Hurst and ADX (a trend's strength) weigh nothing.
    """

    momentum: float = Field(0.0, ge=0, le=10)
    efficiency: float = Field(0.0, ge=0, le=10)
    hurst: float = Field(0.0, ge=0, le=10)
    adx: float = Field(0.0, ge=0, le=10)
    antifragility: float = Field(0.0, ge=0, le=10)
    reversion: float = Field(2.0, ge=0, le=10)
    anti_persistence: float = Field(1.0, ge=0, le=10)
    half_life: float = Field(1.0, ge=0, le=10)


class RatingWeights(ConvictionWeights):
    """Log-MPS exponents of the rating logic: how well the listing followed its rating."""

    momentum: float = Field(0.0, ge=0, le=10)
    efficiency: float = Field(0.0, ge=0, le=10)
    hurst: float = Field(0.0, ge=0, le=10)
    adx: float = Field(0.0, ge=0, le=10)
    rating_ic: float = Field(2.0, ge=0, le=10)


class CarsWeights(Parameters):
    """Additive weights of ``cars_2_1``, normalised by their sum: the Log-MPS emphasis."""

    momentum: float = Field(0.20, ge=0, le=1)
    efficiency: float = Field(0.25, ge=0, le=1)
    stability: float = Field(0.10, ge=0, le=1)
    entropy: float = Field(0.05, ge=0, le=1)
    hurst: float = Field(0.10, ge=0, le=1)
    adx: float = Field(0.05, ge=0, le=1)
    liquidity: float = Field(0.05, ge=0, le=1)
    antifragility: float = Field(0.05, ge=0, le=1)
    survival: float = Field(0.05, ge=0, le=1)
    fragility: float = Field(0.05, ge=0, le=1)
    kurtosis: float = Field(0.05, ge=0, le=1)
    reversion: float = Field(0.0, ge=0, le=1)
    anti_persistence: float = Field(0.0, ge=0, le=1)
    half_life: float = Field(0.0, ge=0, le=1)
    rating_ic: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _positive(self) -> CarsWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one CARS weight must be positive")
        return self


class ReversionCarsWeights(CarsWeights):
    """CARS weights of the mean-reversion logic (the `ReversionWeights` emphasis)."""

    momentum: float = Field(0.0, ge=0, le=1)
    efficiency: float = Field(0.0, ge=0, le=1)
    hurst: float = Field(0.0, ge=0, le=1)
    adx: float = Field(0.0, ge=0, le=1)
    reversion: float = Field(0.25, ge=0, le=1)
    anti_persistence: float = Field(0.15, ge=0, le=1)
    half_life: float = Field(0.15, ge=0, le=1)


class RatingCarsWeights(CarsWeights):
    """CARS weights of the rating logic (the `RatingWeights` emphasis)."""

    momentum: float = Field(0.0, ge=0, le=1)
    efficiency: float = Field(0.0, ge=0, le=1)
    hurst: float = Field(0.0, ge=0, le=1)
    adx: float = Field(0.0, ge=0, le=1)
    rating_ic: float = Field(0.35, ge=0, le=1)


def check_weights(
    weights: BaseModel | Mapping[str, float] | None, defaults: type[Parameters], what: str
) -> dict[str, float]:
    """``defaults``' weights overridden by ``weights``; unknown metrics and negative weights raise.

    ``weights`` is an instance of the weights type (taken whole) or a partial mapping.

    Raises
    ------
    ConfigError
        A metric that ``defaults`` does not know, or a negative or non-finite weight.
    """
    merged = defaults().model_dump()
    if isinstance(weights, BaseModel):
        weights = weights.model_dump()
    for name, value in (weights or {}).items():
        if name not in merged:
            raise ConfigError(
                f"{what}: unknown metric {name!r} (known: {', '.join(sorted(merged))})"
            )
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"{what}: weight of {name} must be finite and >= 0, got {value!r}")
        merged[name] = float(value)
    return merged


def map_probability(values: pd.Series, method: Method, higher_is_better: bool = True) -> pd.Series:
    """Map a metric to (0, 1), higher meaning better.

    - ``rank``: ``p = (r - 1/2) / n`` with ``r`` the average rank among the ``n`` finite
      values: uniform on (0, 1) whatever the metric's scale or tails.
    - ``normal``: ``p = Phi(z)``, ``z = (x - mean) / std`` (sample std) clipped to +-3: keeps
      how far apart values are; a constant metric maps to 0.5.

    A NaN value maps to 0.5, the neutral probability.

    Parameters
    ----------
    values : Series
        The metric, any index.
    method : {"rank", "normal"}
        The map.
    higher_is_better : bool, default True
        When False the metric is negated first.

    Returns
    -------
    Series
        Same index, float in (0, 1).
    """
    from scipy.stats import norm, rankdata  # heavy (~0.5 s): imported when selection runs

    x = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    x = x if higher_is_better else -x
    finite = np.isfinite(x)
    p = np.full(len(x), 0.5)
    n = int(finite.sum())
    if method == "rank":
        if n:
            p[finite] = (rankdata(x[finite]) - 0.5) / n
    elif method == "normal":
        if n >= 2:
            std = float(np.std(x[finite], ddof=1))
            if std > 0:
                z = np.clip((x[finite] - x[finite].mean()) / std, -Z_CLIP, Z_CLIP)
                p[finite] = norm.cdf(z)
    else:
        raise ConfigError(f"probability map {method!r}: unknown (known: rank, normal)")
    return pd.Series(p, index=values.index, dtype="float64")


def metric_probabilities(features: pd.DataFrame) -> pd.DataFrame:
    """Every metric of ``METRICS`` as a probability, over the candidates that have returns.

    Parameters
    ----------
    features : DataFrame
        The feature frame (`build_features`).

    Returns
    -------
    DataFrame
        Same index; one column ``p_<metric>`` per metric of ``METRICS`` (float in (0, 1)).
        Candidates without returns take 0.5 everywhere and do not shift the others' ranks.
    """
    has_data = features["n_obs"] > 0
    out = {}
    for name, metric in METRICS.items():
        raw = features[metric.column].where(has_data)
        if metric.log10:
            raw = np.log10(raw.where(raw > 0))
        out[f"p_{name}"] = map_probability(raw, metric.method, metric.higher_is_better)
    return pd.DataFrame(out, index=features.index)


def log_mps_score(
    probabilities: pd.DataFrame,
    weights: ConvictionWeights | Mapping[str, float] | None = None,
    fragility_penalty: float = DEFAULT_FRAGILITY_PENALTY,
) -> pd.Series:
    """Log-MPS conviction ``prod p_i^w_i x (1 - penalty x (1 - p_fragility))``.

    Computed as ``exp(sum w_i ln p_i)`` times the fragility factor, so the most fragile
    candidate loses up to ``fragility_penalty`` of its score and the least fragile nothing.

    Parameters
    ----------
    probabilities : DataFrame
        ``metric_probabilities`` output.
    weights : ConvictionWeights or mapping, optional
        Exponents by metric name (a mapping overrides the defaults of `ConvictionWeights`).
    fragility_penalty : float, default 0.5
        In [0, 1).

    Returns
    -------
    Series
        Same index, in (0, 1].

    Raises
    ------
    ConfigError
        Unknown metric, negative weight, or a penalty outside [0, 1).
    """
    merged = check_weights(weights, ConvictionWeights, "log-mps weights")
    if not 0.0 <= fragility_penalty < 1.0:
        raise ConfigError(f"fragility_penalty {fragility_penalty} is outside [0, 1)")
    log_score = sum(w * np.log(probabilities[f"p_{name}"]) for name, w in merged.items())
    factor = 1.0 - fragility_penalty * (1.0 - probabilities["p_fragility"])
    return (np.exp(log_score) * factor).astype("float64")


def cars_score(
    probabilities: pd.DataFrame, weights: CarsWeights | Mapping[str, float] | None = None
) -> pd.Series:
    """CARS 2.1: the weighted mean ``sum w_i p_i / sum w_i`` of the same probabilities.

    Additive, so one weak metric costs its weight and no more (Log-MPS multiplies: one weak
    metric can sink a candidate).

    Raises
    ------
    ConfigError
        Unknown metric, negative weight, or all weights zero.
    """
    merged = check_weights(weights, CarsWeights, "cars weights")
    total = sum(merged.values())
    if total <= 0:
        raise ConfigError("cars weights: at least one weight must be positive")
    score = sum(w * probabilities[f"p_{name}"] for name, w in merged.items()) / total
    return pd.Series(score, index=probabilities.index, dtype="float64")
