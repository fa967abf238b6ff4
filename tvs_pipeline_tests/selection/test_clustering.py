import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.clustering import (
    cluster_listings,
    correlation_distance,
    pairwise_correlation,
)


def test_pairwise_correlation_matches_pandas_with_gaps():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((150, 6))
    values[:, 1] += values[:, 0]
    values[rng.random((150, 6)) < 0.2] = np.nan
    values[:135, 5] = np.nan  # 15 rows: fewer than 20 in common with anyone
    expected = pd.DataFrame(values).corr(min_periods=20).fillna(0.0).to_numpy().copy()
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(pairwise_correlation(values), expected, rtol=1e-10, atol=1e-12)


def test_distance_by_hand_and_shrinkage():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(300)
    frame = pd.DataFrame({"a": a, "same": a, "neg": -a})
    d = correlation_distance(frame, lookbacks=[60, 120, 200], shrinkage=0.05)
    np.testing.assert_allclose(d[0, 1], np.sqrt(0.5 * 0.05), rtol=1e-12)
    np.testing.assert_allclose(d[0, 2], np.sqrt(0.5 * 1.95), rtol=1e-12)
    assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)
    loose = correlation_distance(frame, lookbacks=[60], shrinkage=0.0)
    np.testing.assert_allclose(loose[0, 1], 0.0, atol=1e-7)  # sqrt of rounding noise


def test_lookbacks_average_the_windows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(300)
    y = np.where(np.arange(300) >= 240, x, rng.standard_normal(300))  # together lately
    frame = pd.DataFrame({"x": x, "y": y})
    recent = correlation_distance(frame, lookbacks=[60])[0, 1]
    long = correlation_distance(frame, lookbacks=[200])[0, 1]
    both = correlation_distance(frame, lookbacks=[60, 200])[0, 1]
    assert recent < both < long
    np.testing.assert_allclose(both, (recent + long) / 2, rtol=1e-12)


def test_factor_blocks_cluster_together(panel):
    clusters = cluster_listings(panel)
    assert clusters[[f"F1_{k}" for k in range(4)]].nunique() == 1
    assert clusters[[f"F2_{k}" for k in range(4)]].nunique() == 1
    assert clusters["F1_0"] != clusters["F2_0"]
    assert clusters["QUIET"] == clusters["F1_0"]
    assert clusters[["UP0", "UP1", "RW0", "RW1"]].nunique() == 4  # independent: own clusters
    assert clusters.iloc[0] == 1 and list(clusters.index) == list(panel.columns)
    pd.testing.assert_series_equal(clusters, cluster_listings(panel))  # reproducible


def test_ceiling_and_threshold(panel):
    assert cluster_listings(panel, max_clusters=3).nunique() == 3
    assert cluster_listings(panel, threshold=5.0).nunique() == 1
    assert cluster_listings(panel, threshold=0.1).nunique() > cluster_listings(panel).nunique()
    single = cluster_listings(panel[["UP0"]])
    assert single.tolist() == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold 0.0 must be positive"),
        ({"max_clusters": 0}, "max_clusters 0 must be at least 1"),
        ({"lookbacks": []}, "must be >= 2 and not empty"),
        ({"lookbacks": [1, 60]}, "must be >= 2 and not empty"),
        ({"shrinkage": 1.0}, "shrinkage 1.0 is outside"),
    ],
    ids=["threshold", "ceiling", "no-lookback", "short-lookback", "shrinkage"],
)
def test_errors(panel, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cluster_listings(panel, **kwargs)


def test_linkage_method_changes_the_cut():
    # A chain x - y - z: neighbours correlate at about 0.7, the ends at about 0.5.
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.standard_normal(n)
    y = 0.7 * x + np.sqrt(1 - 0.49) * rng.standard_normal(n)
    z = 0.7 * y + np.sqrt(1 - 0.49) * rng.standard_normal(n)
    frame = pd.DataFrame({"x": x, "y": y, "z": z})
    d = correlation_distance(frame, lookbacks=[n])
    near, far = max(d[0, 1], d[1, 2]), d[0, 2]
    assert near < 0.45 < far  # neighbours link below the cut, the ends above it
    cut = {"threshold": 0.45, "lookbacks": [n]}
    # single linkage chains through the neighbours; complete needs the ends close too
    assert cluster_listings(frame, method="single", **cut).nunique() == 1
    assert cluster_listings(frame, method="complete", **cut).nunique() == 2
    assert (
        cluster_listings(frame, **cut).tolist()
        == cluster_listings(frame, method="ward", **cut).tolist()
    )


def test_unknown_linkage(panel):
    with pytest.raises(ConfigError, match="linkage 'median' unknown"):
        cluster_listings(panel, method="median")
