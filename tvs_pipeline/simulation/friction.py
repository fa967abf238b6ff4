"""The one friction model: what a trade of given turnover costs, for allocation and simulation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from tvs_pipeline.config.schema import SimulationConfig
from tvs_pipeline.errors import ConfigError, DataError

__all__ = ["BPS_PER_UNIT", "FrictionModel"]

# Basis points in one unit of traded value.
BPS_PER_UNIT = 1e4


@dataclass(frozen=True)
class FrictionModel:
    """Linear trading cost: slippage plus commission, both in basis points of traded value.

    Parameters
    ----------
    slippage_bps : float
        Price impact and half-spread per unit of value traded, in bps (>= 0).
    commission_bps : float
        Broker and exchange fees per unit of value traded, in bps (>= 0).
    borrow_bps_per_year : float
        Annual borrow or funding rate on a short's value, in bps (>= 0), for a listing whose
        sleeve is not in ``borrow_by_sleeve``.
    borrow_by_sleeve : mapping
        Sleeve -> its annual borrow rate in bps (>= 0).

    Raises
    ------
    ConfigError
        If a rate is negative or not finite.

    Notes
    -----
    ``cost(τ) = (slippage_bps + commission_bps) · 10⁻⁴ · τ`` where the turnover
    ``τ = Σᵢ |w_new,i − w_old,i|`` is one-way (buying 0.3 and selling 0.3 is ``τ = 0.6``),
    so the cost is a fraction of portfolio equity. Allocation prices planned turnover and
    simulation charges realised trades with the same instance, so the two cannot disagree.
    A short pays ``|h| · borrow/10⁴ · days/365`` per calendar day held.

    References
    ----------
    Grinold, R. and Kahn, R. (2000), Active Portfolio Management, 2nd ed., ch. 16
    (linear transaction costs).
    """

    slippage_bps: float = 5.0
    commission_bps: float = 1.0
    borrow_bps_per_year: float = 0.0
    borrow_by_sleeve: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rates = {name: getattr(self, name) for name in ("slippage_bps", "commission_bps")}
        rates["borrow_bps_per_year"] = self.borrow_bps_per_year
        rates.update({f"borrow_by_sleeve[{k}]": v for k, v in self.borrow_by_sleeve.items()})
        for name, value in rates.items():
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"FrictionModel {name} {value!r}: expected a finite value >= 0")

    def borrow_rates(self, sleeves: pd.Series) -> pd.Series:
        """Listing -> annual borrow rate in bps, from ``sleeves`` (listing -> sleeve)."""
        by_sleeve, default = self.borrow_by_sleeve, self.borrow_bps_per_year
        rates = [by_sleeve.get(sleeve, default) for sleeve in sleeves.to_numpy()]
        return pd.Series(rates, index=sleeves.index, dtype="float64", name="borrow_bps_per_year")

    @property
    def rate(self) -> float:
        """Cost per unit of one-way turnover, as a fraction: ``(slippage + commission) / 1e4``."""
        return (self.slippage_bps + self.commission_bps) / BPS_PER_UNIT

    def cost(self, turnover: float) -> float:
        """Cost of a trade, as a fraction of equity.

        Parameters
        ----------
        turnover : float
            One-way turnover ``Σ |w_new − w_old|`` (>= 0).

        Returns
        -------
        float
            ``rate · turnover``.

        Raises
        ------
        DataError
            If ``turnover`` is negative or not finite.
        """
        if not math.isfinite(turnover) or turnover < 0:
            raise DataError(f"friction cost: turnover {turnover!r} is not a finite value >= 0")
        return self.rate * float(turnover)

    @classmethod
    def from_config(cls, config: SimulationConfig) -> FrictionModel:
        """Build the model from the profile's simulation section.

        Parameters
        ----------
        config : SimulationConfig
            Supplies ``slippage_bps``, ``commission_bps`` and ``borrow_bps_per_year`` (its
            ``default`` entry for the sleeves it does not name).

        Returns
        -------
        FrictionModel
        """
        rates = dict(config.borrow_bps_per_year)
        return cls(
            slippage_bps=config.slippage_bps,
            commission_bps=config.commission_bps,
            borrow_bps_per_year=float(rates.pop("default", 0.0)),
            borrow_by_sleeve=rates,
        )
