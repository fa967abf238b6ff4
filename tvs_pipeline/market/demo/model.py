"""The demo market's return process: factors, regimes and the latent log price of each path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.market.demo.epoch import CALENDAR, YEAR, Streams, fat_tails, stable_id, uniform

__all__ = [
    "BOND_F",
    "COMMODITY_F",
    "CRYPTO_F",
    "REGIMES",
    "LatentPaths",
    "build_paths",
    "simulate_paths",
]

# Factors: 0 market, 1-11 sectors, 12 crypto, 13 bonds, 14 commodities (annualised figures).
CRYPTO_F, BOND_F, COMMODITY_F = 12, 13, 14
FACTOR_VOL = np.array([0.14, *[0.10] * 11, 0.50, 0.06, 0.18])
FACTOR_RHO = np.array([1.0, *[0.0] * 11, 0.4, -0.2, 0.1])  # correlation with the market factor
FACTOR_DRIFT = np.zeros((15, 3))  # log drift per regime: calm, turbulent, crisis
FACTOR_DRIFT[0] = (0.22, -0.05, -1.0)
FACTOR_DRIFT[CRYPTO_F] = (0.50, -0.20, -2.0)
FACTOR_DRIFT[BOND_F] = (0.02, 0.03, 0.08)
REGIMES = ("calm", "turbulent", "crisis")
REGIME_VOL = np.array([1.0, 1.8, 3.0])
TRANSITIONS = np.array([[0.99, 0.009, 0.001], [0.025, 0.967, 0.008], [0.0, 0.04, 0.96]])


@dataclass(frozen=True, eq=False)
class LatentPaths:
    """The simulated process: ``regime`` and ``vol_mult`` per calendar day, ``x`` days x paths.

    ``regime`` holds the index into ``REGIMES``, ``vol_mult`` the regime's vol multiplier and
    ``x`` the latent log price of every path on every calendar day of the epoch.
    """

    regime: np.ndarray
    vol_mult: np.ndarray
    x: np.ndarray


def build_paths(specs: list[dict]) -> tuple[pd.DataFrame, np.ndarray]:
    """The path table and the factor loadings of the economic paths a catalog asked for.

    Parameters
    ----------
    specs : list of dict
        One dict per path, as ``build_catalog`` returns them: key, kind, price, anchor, loads
        (``{factor: beta}``), vol, drift, phi.

    Returns
    -------
    tuple of DataFrame and ndarray
        The paths, one row per path in ``specs`` order, with columns key, kind, price, anchor,
        vol, drift (factor paths: the loadings times the factors' stationary mean drift), phi,
        in_regime (factor paths: scaled by the regime's vol multiplier) and vol_d (daily vol of
        the path's return); and the loadings, paths x factors.
    """
    loads = np.zeros((len(specs), len(FACTOR_VOL)))
    for index, spec in enumerate(specs):
        for factor, beta in spec["loads"].items():
            loads[index, factor] = beta
    paths = pd.DataFrame([{k: v for k, v in spec.items() if k != "loads"} for spec in specs])
    factor_kind = (paths["kind"] == "factor").to_numpy()
    paths["in_regime"] = factor_kind  # factor paths feel the regime's vol multiplier
    mean_drift = FACTOR_DRIFT @ _stationary(TRANSITIONS)
    paths.loc[factor_kind, "drift"] = (loads @ mean_drift)[factor_kind]
    factor_var = np.where(factor_kind, (loads**2) @ FACTOR_VOL**2, 0.0)
    paths["vol_d"] = np.sqrt(paths["vol"] ** 2 + factor_var) / np.sqrt(YEAR)
    return paths, loads


def simulate_paths(paths: pd.DataFrame, loads: np.ndarray, streams: Streams) -> LatentPaths:
    """Latent log price of every path on every calendar day, with the regime of each day.

    Parameters
    ----------
    paths, loads : DataFrame, ndarray
        As ``build_paths`` returns them.
    streams : Streams
        The market's random streams.

    Returns
    -------
    LatentPaths
        The regime chain, its vol multiplier and the log prices (days x paths).
    """
    days = len(CALENDAR)
    bounds = TRANSITIONS.cumsum(axis=1).tolist()
    regime, state = np.empty(days, dtype=np.int64), 0
    for day, u in enumerate(streams.draw(stable_id("regime"), 0, uniform, 1)[:, 0].tolist()):
        state = 0 if u < bounds[state][0] else 1 if u < bounds[state][1] else 2
        regime[day] = state
    vol_mult = REGIME_VOL[regime]
    eps = streams.draw(stable_id("factors"), 0, fat_tails, len(FACTOR_VOL))
    shocks = FACTOR_RHO * eps[:, :1] + np.sqrt(1.0 - FACTOR_RHO**2) * eps
    factors = FACTOR_DRIFT[:, regime].T / YEAR
    factors += vol_mult[:, None] * FACTOR_VOL / np.sqrt(YEAR) * shocks
    idio = np.column_stack(
        [streams.draw(stable_id(key), 1, fat_tails, 1)[:, 0] for key in paths["key"]]
    )
    kind, vol = paths["kind"].to_numpy(), paths["vol"].to_numpy() / np.sqrt(YEAR)
    scaled = np.where(paths["in_regime"].to_numpy(), vol_mult[:, None], 1.0)
    returns = factors @ loads.T + idio * vol * scaled
    trend = np.flatnonzero(np.isin(kind, ["trend_up", "trend_down"]))
    phi = paths["phi"].to_numpy()[trend]
    innovations = idio[:, trend] * vol[trend] * np.sqrt(1.0 - phi**2)
    level = np.zeros(len(trend))
    for day in range(days):  # AR(1) shocks: trends are persistent, not just drifting
        level = phi * level + innovations[day]
        innovations[day] = level
    returns[:, trend] = paths["drift"].to_numpy()[trend] / YEAR + innovations
    drift, anchor = paths["drift"].to_numpy(), paths["anchor"].to_numpy()
    x = np.log(paths["price"].to_numpy()) - drift * (anchor + 1) / YEAR
    x = x + np.cumsum(returns, axis=0)
    stable = np.flatnonzero(kind == "stablecoin")
    x[:, stable] = np.log1p(vol[stable] * np.clip(idio[:, stable], -5.0, 5.0))
    return LatentPaths(regime=regime, vol_mult=vol_mult, x=x)


def _stationary(transitions: np.ndarray) -> np.ndarray:
    """Stationary distribution of a Markov transition matrix."""
    values, vectors = np.linalg.eig(transitions.T)
    weights = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return weights / weights.sum()
