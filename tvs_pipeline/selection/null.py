"""White-noise null distributions of the selection metrics, to calibrate the veto thresholds.

``python -m tvs_pipeline.selection.null`` prints the table of docs/methodology.md, section 8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.selection.efficiency import efficiency_columns
from tvs_pipeline.selection.entropy import permutation_entropy_columns
from tvs_pipeline.selection.hurst import DEFAULT_MAX_LAG, DEFAULT_MIN_LAG, hurst_columns
from tvs_pipeline.selection.vetoes import VetoThresholds

__all__ = ["NULL_SEED", "WINDOWS", "null_metrics", "null_table", "veto_rates"]

NULL_SEED = 20260630  # fixed: the documented table is reproducible to the last digit
WINDOWS = {"XNYS, 500 calendar days": 342, "24/7, 500 calendar days": 499}


def null_metrics(
    n_obs: int,
    n_sims: int = 4000,
    seed: int = NULL_SEED,
    order: int = 3,
    delay: int = 1,
    min_lag: int = DEFAULT_MIN_LAG,
    max_lag: int = DEFAULT_MAX_LAG,
) -> pd.DataFrame:
    """Selection metrics of ``n_sims`` Gaussian white-noise series of ``n_obs`` values.

    Parameters
    ----------
    n_obs : int
        Values per series (the configured window).
    n_sims : int, default 4000
        Series simulated.
    seed : int, default NULL_SEED
        Seed of ``numpy.random.default_rng``.
    order, delay, min_lag, max_lag : int
        Metric parameters, as in the feature frame.

    Returns
    -------
    DataFrame
        One row per series: ``entropy``, ``hurst``, ``efficiency`` (``|sum r| / sum |r|``) and
        ``efficiency_dir`` (``sum r / sum |r|``, the directional efficiency of a LONG candidate;
        a SHORT one has the same null by symmetry).
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_obs, n_sims))
    return pd.DataFrame(
        {
            "entropy": permutation_entropy_columns(noise, order, delay),
            "hurst": hurst_columns(noise, min_lag, max_lag),
            "efficiency": efficiency_columns(noise),
            "efficiency_dir": efficiency_columns(noise, signed=True),
        }
    )


def veto_rates(null: pd.DataFrame, thresholds: VetoThresholds) -> dict[str, float]:
    """Share of null series each predictability veto (and any of them) rejects.

    Returns
    -------
    dict of str to float
        ``high_entropy``, ``low_efficiency``, ``random_walk``, ``toxic_persistence`` (Hurst
        above ``toxic_hurst`` with a falling window; the mean's sign is the sign of
        ``efficiency_dir``) and ``any``.
    """
    high = null["entropy"] > thresholds.entropy_max
    low = null["efficiency_dir"] < thresholds.efficiency_min
    walk = (null["hurst"] > thresholds.hurst_low) & (null["hurst"] < thresholds.hurst_high)
    toxic = (null["hurst"] > thresholds.toxic_hurst) & (null["efficiency_dir"] < 0)
    return {
        "high_entropy": float(high.mean()),
        "low_efficiency": float(low.mean()),
        "random_walk": float(walk.mean()),
        "toxic_persistence": float(toxic.mean()),
        "any": float((high | low | walk | toxic).mean()),
    }


def null_table(
    windows: dict[str, int] | None = None,
    thresholds: VetoThresholds | None = None,
    n_sims: int = 4000,
    seed: int = NULL_SEED,
) -> pd.DataFrame:
    """Mean, 5th, 50th and 95th percentile of each metric under white noise, per window.

    Returns
    -------
    DataFrame
        One row per (window, metric): ``window``, ``n_obs``, ``metric``, ``mean``, ``p05``,
        ``p50``, ``p95``, ``threshold`` (the stage-1 threshold the metric feeds) and
        ``vetoed`` (share of the null that threshold rejects).
    """
    windows = windows or WINDOWS
    thresholds = thresholds or VetoThresholds()
    rows = []
    for label, n_obs in windows.items():
        null = null_metrics(n_obs, n_sims, seed)
        rates = veto_rates(null, thresholds)
        feeds = {
            "entropy": (f"> {thresholds.entropy_max}", rates["high_entropy"]),
            "hurst": (
                f"in ({thresholds.hurst_low}, {thresholds.hurst_high})",
                rates["random_walk"],
            ),
            "efficiency": ("", float("nan")),
            "efficiency_dir": (f"< {thresholds.efficiency_min}", rates["low_efficiency"]),
        }
        for metric in ("entropy", "hurst", "efficiency", "efficiency_dir"):
            values = null[metric].to_numpy()
            rows.append(
                {
                    "window": label,
                    "n_obs": n_obs,
                    "metric": metric,
                    "mean": float(np.nanmean(values)),
                    "p05": float(np.nanpercentile(values, 5)),
                    "p50": float(np.nanpercentile(values, 50)),
                    "p95": float(np.nanpercentile(values, 95)),
                    "threshold": feeds[metric][0],
                    "vetoed": feeds[metric][1],
                }
            )
        for name, key in (("toxic persistence", "toxic_persistence"), ("any of them", "any")):
            rows.append({"window": label, "n_obs": n_obs, "metric": name, "vetoed": rates[key]})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    print(null_table().to_markdown(index=False, floatfmt=".4f"))
