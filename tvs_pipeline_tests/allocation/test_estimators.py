import numpy as np
import pandas as pd

from tvs_pipeline.allocation.estimators import estimate_covariance, estimate_mean
from tvs_pipeline.allocation.profiles import Estimation


def test_the_three_covariances_by_their_formulas():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3)) * [0.01, 0.02, 0.03]
    r = pd.DataFrame(x, columns=["a", "b", "c"])
    sample = np.cov(x.T, bias=True)
    got = estimate_covariance(r, Estimation(covariance="sample")).to_numpy()
    np.testing.assert_allclose(got, sample, rtol=1e-12)
    delta, mu = 0.2, np.trace(sample) / 3
    shrunk = estimate_covariance(r, Estimation(covariance="shrunk", shrinkage=delta)).to_numpy()
    np.testing.assert_allclose(shrunk, (1 - delta) * sample + delta * mu * np.eye(3), rtol=1e-12)
    lw = estimate_covariance(r, Estimation(covariance="ledoit_wolf")).to_numpy()
    # Ledoit-Wolf is a convex combination of the same two ends, with an estimated intensity.
    off = lw[0, 1] / sample[0, 1]
    np.testing.assert_allclose(lw, off * sample + (1 - off) * mu * np.eye(3), rtol=1e-9)
    assert list(estimate_covariance(r, Estimation()).index) == ["a", "b", "c"]
    np.testing.assert_allclose(estimate_mean(r).to_numpy(), x.mean(axis=0), rtol=1e-12)
