"""The moments a profile reads, estimated once per window with scikit-learn's estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.profiles import Estimation

__all__ = ["estimate_covariance", "estimate_mean"]


def estimate_covariance(returns: pd.DataFrame, estimation: Estimation) -> pd.DataFrame:
    """The daily covariance of the atoms, by the profile's estimator.

    Parameters
    ----------
    returns : DataFrame
        Dates x atoms, daily simple returns, fully observed.
    estimation : Estimation
        ``shrunk`` (``sklearn.covariance.ShrunkCovariance(shrinkage)``: ``(1 − δ)S + δ·tr(S)/n·I``),
        ``ledoit_wolf`` (``LedoitWolf``) or ``sample`` (``EmpiricalCovariance``); all with the
        maximum-likelihood divisor ``T``.

    Returns
    -------
    DataFrame
        Atoms x atoms, in the column order of ``returns``.

    References
    ----------
    Ledoit, O. and Wolf, M. (2004), "A well-conditioned estimator for large-dimensional
    covariance matrices", Journal of Multivariate Analysis 88(2), 365-411.
    """
    from sklearn.covariance import EmpiricalCovariance, LedoitWolf, ShrunkCovariance

    x = returns.to_numpy(dtype="float64")
    if estimation.covariance == "shrunk":
        model = ShrunkCovariance(shrinkage=estimation.shrinkage)
    elif estimation.covariance == "ledoit_wolf":
        model = LedoitWolf()
    else:
        model = EmpiricalCovariance()
    cov = model.fit(x).covariance_ if len(x) > 1 else np.diag(np.zeros(x.shape[1]))
    return pd.DataFrame(cov, index=returns.columns, columns=returns.columns)


def estimate_mean(returns: pd.DataFrame) -> pd.Series:
    """The daily expected return of each atom: the window's sample mean."""
    return returns.mean(axis=0).astype("float64")
