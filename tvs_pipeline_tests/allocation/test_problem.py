import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.problem import (
    AllocationProblem,
    check_constraints,
    feasible_cap,
    project_onto_constraints,
)
from tvs_pipeline.allocation.profiles import EqualWeight, MaxSharpe, MinVariance
from tvs_pipeline.errors import OptimizationError


def window(n=4, days=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.standard_normal((days, n)) * 0.01, columns=list("abcd")[:n])


def test_feasible_cap():
    assert feasible_cap(0.25, 3) == pytest.approx(1 / 3)
    assert feasible_cap(0.25, 8) == 0.25


def test_only_the_moments_a_profile_reads_are_estimated():
    r = window()
    assert AllocationProblem.build(r, EqualWeight()).cov is None
    mv = AllocationProblem.build(r, MinVariance())
    assert mv.cov is not None and mv.mean is None
    ms = AllocationProblem.build(r, MaxSharpe())
    np.testing.assert_allclose(ms.mean.to_numpy(), r.mean().to_numpy(), rtol=1e-12)


def test_check_names_each_broken_constraint():
    r = window()
    clusters = pd.Series([1, 1, 2, 2], index=r.columns)
    problem = AllocationProblem.build(
        r, EqualWeight(), max_weight=0.4, clusters=clusters, cluster_cap=0.5
    )
    assert check_constraints(np.full(4, 0.25), problem) == []
    broken = check_constraints(np.array([0.45, 0.35, 0.1, 0.1]), problem)
    assert broken == [
        "weight 0.45 above the cap 0.4",
        "cluster 1 holds 0.8, above the cluster cap 0.5",
    ]


def test_projection_is_the_nearest_feasible_point():
    r = window()
    problem = AllocationProblem.build(r, EqualWeight(), max_weight=0.3)
    # Nearest point of {0 <= w <= 0.3, sum 1} to (0.7, 0.1, 0.1, 0.1): cap the first at 0.3
    # and spread the 0.4 equally over the rest (a uniform shift, by the KKT conditions).
    got = project_onto_constraints(np.array([0.7, 0.1, 0.1, 0.1]), problem)
    np.testing.assert_allclose(got, [0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3], atol=1e-7)


def test_projection_of_an_infeasible_set_names_it():
    r = window()
    betas = pd.Series([1.0, 1.1, 0.9, 1.2], index=r.columns)
    problem = AllocationProblem.build(
        r, EqualWeight(), max_weight=1.0, betas=betas, beta_tolerance=0.1
    )
    with pytest.raises(OptimizationError, match=r"infeasible .*market-neutral beta ±0\.1"):
        project_onto_constraints(np.full(4, 0.25), problem)
