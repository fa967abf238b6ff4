"""Selection vetoes: calibrated predictability gates (soft) and data and risk gates (hard)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.parameters import Parameters

__all__ = [
    "EFFICIENCY_RELAXATION",
    "ENTROPY_RELAXATION",
    "HALF_LIFE_RELAXATION",
    "HARD_VETOES",
    "LOGIC_VETOES",
    "SOFT_VETOES",
    "VETO_CODES",
    "VetoThresholds",
    "hard_veto_flags",
    "hard_veto_reasons",
    "logic_of",
    "soft_veto_flags",
    "veto_table",
]

SOFT_VETOES = (
    "high_entropy",
    "low_efficiency",
    "random_walk",
    "persistent",
    "no_reversal",
    "slow_reversion",
    "rating_ignored",
)
HARD_VETOES = ("missing_data", "toxic_persistence", "failed_survival")
VETO_CODES = (*HARD_VETOES, *SOFT_VETOES)
# The soft vetoes each logic reads; a logic not named here (trend, momentum, breakout) reads the
# trend's. The hard vetoes hold for every logic.
TREND_VETOES = ("high_entropy", "low_efficiency", "random_walk")
LOGIC_VETOES = {
    "mean_reversion": ("high_entropy", "persistent", "no_reversal", "slow_reversion"),
    "rating": ("high_entropy", "rating_ignored"),
}
ENTROPY_RELAXATION = 1.2  # stage 2 multiplies the entropy ceiling by this
EFFICIENCY_RELAXATION = 0.8  # and the efficiency floor and the rating's IC floor by this
HALF_LIFE_RELAXATION = 1.5  # and the half-life ceiling by this


class VetoThresholds(Parameters):
    """Thresholds of the vetoes (docs/methodology.md, section 8, gives each null distribution).

    Attributes
    ----------
    entropy_max : float
        Soft: permutation entropy above it reads as noise (``high_entropy``).
    efficiency_min : float
        Soft: directional efficiency ``sum r~ / sum |r|`` below it (``low_efficiency``); a
        candidate whose window moved against its direction is always below it.
    hurst_low, hurst_high : float
        Soft: a Hurst exponent strictly inside ``(hurst_low, hurst_high)`` reads as a random walk
        (``random_walk``).
    toxic_hurst : float
        Hard: Hurst above it with negative direction-adjusted momentum is persistent and
        falling (``toxic_persistence``).
    survival_min : float
        Hard: a survival share below it failed the stress windows (``failed_survival``).
    min_obs : int
        Hard: fewer own returns in the window is missing data (``missing_data``).
    entropy_hard_stop : float
        The relaxation fallbacks (stages 3 and 4) never take a candidate above it.
    reversion_hurst_max : float
        Soft, mean reversion: Hurst at or above it is not anti-persistent (``persistent``).
    autocorr_max : float
        Soft, mean reversion: lag-1 autocorrelation at or above it shows no reversal
        (``no_reversal``).
    half_life_max : float
        Soft, mean reversion: a half-life above it (sessions) reverts too slowly for the
        logic's horizon (``slow_reversion``).
    rating_ic_min : float
        Soft, rating: a rating information coefficient below it says the listing ignored its
        rating over the window (``rating_ignored``).
    """

    entropy_max: float = Field(0.999, ge=0, le=1)
    efficiency_min: float = Field(0.08, ge=-1, le=1)
    hurst_low: float = Field(0.495, ge=0, le=1)
    hurst_high: float = Field(0.505, ge=0, le=1)
    toxic_hurst: float = Field(0.55, ge=0, le=1)
    survival_min: float = Field(0.5, ge=0, le=1)
    min_obs: int = Field(60, ge=1)
    entropy_hard_stop: float = Field(0.999, ge=0, le=1)
    reversion_hurst_max: float = Field(0.45, ge=0, le=1)
    autocorr_max: float = Field(0.0, ge=-1, le=1)
    half_life_max: float = Field(10.0, gt=0)
    rating_ic_min: float = Field(0.10, ge=-1, le=1)

    @model_validator(mode="after")
    def _band(self) -> VetoThresholds:
        if not self.hurst_low <= self.hurst_high:
            raise ConfigError(
                f"vetoes: hurst band [{self.hurst_low}, {self.hurst_high}] is reversed"
            )
        return self

    def relaxed(self) -> VetoThresholds:
        """Stage 2: entropy x1.2, efficiency and rating-IC floors x0.8, half-life x1.5.

        Hard vetoes are unchanged.
        """
        return self.model_copy(
            update={
                "entropy_max": min(1.0, self.entropy_max * ENTROPY_RELAXATION),
                "efficiency_min": self.efficiency_min * EFFICIENCY_RELAXATION,
                "half_life_max": self.half_life_max * HALF_LIFE_RELAXATION,
                "rating_ic_min": self.rating_ic_min * EFFICIENCY_RELAXATION,
            }
        )


def hard_veto_flags(features: pd.DataFrame, thresholds: VetoThresholds) -> pd.DataFrame:
    """Hard vetoes of every candidate; they hold in every relaxation stage.

    Parameters
    ----------
    features : DataFrame
        The feature frame (`build_features`): ``n_obs``, ``hurst``, ``momentum``,
        ``survival``.
    thresholds : VetoThresholds
        Only ``min_obs``, ``toxic_hurst`` and ``survival_min`` are read.

    Returns
    -------
    DataFrame
        Same index; one boolean column per code of ``HARD_VETOES``:

        - ``missing_data``: no returns, or fewer than ``min_obs`` (health already drops
          MISSING, SHORT_HISTORY, GAPS, STALE and TOXIC listings before selection);
        - ``toxic_persistence``: ``hurst > toxic_hurst`` and direction-adjusted momentum below 0;
        - ``failed_survival``: ``survival < survival_min`` (NaN survival, a listing younger than
          every stress window, does not fail).
    """
    missing = features["n_obs"] < thresholds.min_obs
    toxic = (features["hurst"] > thresholds.toxic_hurst) & (features["momentum"] < 0)
    failed = features["survival"] < thresholds.survival_min
    return pd.DataFrame(
        {
            "missing_data": missing.to_numpy(),
            "toxic_persistence": (toxic & ~missing).to_numpy(),
            "failed_survival": (failed & ~missing).to_numpy(),
        },
        index=features.index,
    )


def soft_veto_flags(features: pd.DataFrame, thresholds: VetoThresholds) -> pd.DataFrame:
    """Predictability vetoes (soft: the relaxation ladder loosens or lifts them), by logic.

    Each candidate is tested by its logic's rules (``LOGIC_VETOES``; the trend's for any other
    logic, and when the frame has no ``logic`` column); a rule of another logic never raises.

    Parameters
    ----------
    features : DataFrame
        The feature frame: ``entropy``, ``efficiency_dir``, ``hurst``, ``autocorr``,
        ``half_life``, ``rating_ic`` and optionally ``logic``.
    thresholds : VetoThresholds
        The soft thresholds.

    Returns
    -------
    DataFrame
        Same index; one boolean column per code of ``SOFT_VETOES``: ``high_entropy``
        (``entropy > entropy_max``, every logic); trend: ``low_efficiency``
        (``efficiency_dir < efficiency_min``), ``random_walk`` (``hurst_low < hurst <
        hurst_high``); mean reversion: ``persistent`` (``hurst >= reversion_hurst_max``),
        ``no_reversal`` (``autocorr >= autocorr_max``), ``slow_reversion``
        (``half_life > half_life_max``); rating: ``rating_ignored``
        (``rating_ic < rating_ic_min``). A NaN metric raises no soft veto (its candidate
        already carries ``missing_data``).
    """
    hurst = features["hurst"]
    raw = {
        "high_entropy": features["entropy"] > thresholds.entropy_max,
        "low_efficiency": features["efficiency_dir"] < thresholds.efficiency_min,
        "random_walk": (hurst > thresholds.hurst_low) & (hurst < thresholds.hurst_high),
        "persistent": hurst >= thresholds.reversion_hurst_max,
        "no_reversal": _column(features, "autocorr") >= thresholds.autocorr_max,
        "slow_reversion": _column(features, "half_life") > thresholds.half_life_max,
        "rating_ignored": _column(features, "rating_ic") < thresholds.rating_ic_min,
    }
    logic = logic_of(features)
    rules = {"trend": TREND_VETOES, **LOGIC_VETOES}
    out = {}
    for code in SOFT_VETOES:
        reads = logic.isin([name for name, codes in rules.items() if code in codes])
        out[code] = (raw[code] & reads).to_numpy()
    return pd.DataFrame(out, index=features.index)


def logic_of(features: pd.DataFrame) -> pd.Series:
    """Each candidate's logic as the veto rules read it: ``trend`` unless it has its own."""
    if "logic" not in features:
        return pd.Series("trend", index=features.index, dtype="str")
    logic = features["logic"].astype("str").where(features["logic"].notna(), "trend")
    return logic.where(logic.isin(list(LOGIC_VETOES)), "trend")


def _column(features: pd.DataFrame, name: str) -> pd.Series:
    """A feature column, NaN (no veto) when a hand-built frame lacks it."""
    if name not in features:
        return pd.Series(np.nan, index=features.index, dtype="float64")
    return features[name]


def _explain(code: str, row: dict[str, float], t: VetoThresholds) -> str:
    if code == "missing_data":
        return (
            "missing data: no returns"
            if row["n_obs"] == 0
            else (f"missing data: {row['n_obs']} returns < {t.min_obs}")
        )
    if code == "toxic_persistence":
        return (
            f"toxic persistence: hurst {row['hurst']:.3f} > {t.toxic_hurst} "
            f"with momentum {row['momentum']:+.1%}"
        )
    if code == "failed_survival":
        return f"failed survival: {row['survival']:.2f} < {t.survival_min}"
    if code == "high_entropy":
        return f"high entropy: {row['entropy']:.4f} > {t.entropy_max}"
    if code == "low_efficiency":
        return f"low efficiency: {row['efficiency_dir']:+.3f} < {t.efficiency_min}"
    if code == "persistent":
        return f"persistent: hurst {row['hurst']:.3f} >= {t.reversion_hurst_max}"
    if code == "no_reversal":
        return f"no reversal: autocorrelation {row['autocorr']:+.3f} >= {t.autocorr_max}"
    if code == "slow_reversion":
        return f"slow reversion: half-life {row['half_life']:.1f} > {t.half_life_max:g} sessions"
    if code == "rating_ignored":
        return (
            f"rating ignored: information coefficient {row['rating_ic']:+.3f} < {t.rating_ic_min}"
        )
    return f"random walk: hurst {row['hurst']:.3f} in ({t.hurst_low}, {t.hurst_high})"


def hard_veto_reasons(features: pd.DataFrame, thresholds: VetoThresholds) -> list[str]:
    """Each candidate's hard vetoes in words (``"missing data: no returns"``), ``""`` if none."""
    flags = hard_veto_flags(features, thresholds)[list(HARD_VETOES)].to_numpy()
    columns = ["n_obs", "hurst", "momentum", "survival"]
    rows = features[columns].to_dict("records")
    return [
        "; ".join(_explain(HARD_VETOES[j], row, thresholds) for j in np.flatnonzero(raised))
        for row, raised in zip(rows, flags, strict=True)
    ]


def veto_table(features: pd.DataFrame, thresholds: VetoThresholds) -> pd.DataFrame:
    """Every veto of every candidate at the given (strict) thresholds.

    Parameters
    ----------
    features : DataFrame
        The feature frame (`build_features`).
    thresholds : VetoThresholds
        The stage-1 thresholds.

    Returns
    -------
    DataFrame
        Same index; ``vetoes`` (list of codes, hard first, in ``VETO_CODES`` order),
        ``hard_veto`` and ``soft_veto`` (bool), ``veto_detail`` (str: each veto with its
        value and threshold, ``"; "``-joined, empty when none).
    """
    flags = pd.concat(
        [hard_veto_flags(features, thresholds), soft_veto_flags(features, thresholds)], axis=1
    )
    raised = flags[list(VETO_CODES)].to_numpy()
    codes = [[VETO_CODES[j] for j in np.flatnonzero(row)] for row in raised]
    columns = ["n_obs", "hurst", "momentum", "survival", "entropy", "efficiency_dir"]
    extra = {name: _column(features, name) for name in ("autocorr", "half_life", "rating_ic")}
    rows = features[columns].assign(**extra).to_dict("records")
    details = [
        "; ".join(_explain(code, row, thresholds) for code in row_codes)
        for row, row_codes in zip(rows, codes, strict=True)
    ]
    return pd.DataFrame(
        {
            "vetoes": pd.Series(codes, index=features.index, dtype="object"),
            "hard_veto": flags[list(HARD_VETOES)].any(axis=1),
            "soft_veto": flags[list(SOFT_VETOES)].any(axis=1),
            "veto_detail": pd.Series(details, index=features.index, dtype="str"),
        },
        index=features.index,
    )
