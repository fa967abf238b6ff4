"""The closed registry of allocation engines: each translates the profiles its library supports.

An engine is imported only when it is made (the libraries cost seconds to import). A missing
optional library fails in one line naming the extra that installs it.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np

from tvs_pipeline.allocation.problem import AllocationProblem
from tvs_pipeline.allocation.profiles import PROFILES
from tvs_pipeline.errors import ConfigError

__all__ = ["ENGINES", "Engine", "check_pair", "make_engine", "supported_profiles"]


class Engine(Protocol):
    """An allocation engine: one library's translation of the profiles.

    Attributes
    ----------
    name : str
        The registry name.
    profiles : frozenset of str
        The profiles it translates (``barbell`` comes free with its core profile).
    native : frozenset of str
        Constraints its library expresses in its ``min_variance`` translation: ``cluster_cap``,
        ``beta``, ``turnover``. Other profiles may express fewer (HRP none); whatever a solve
        leaves broken is met by `project_onto_constraints` afterwards and recorded in
        ``Allocation.projected``, so the answer to "was it native?" is per solve.
    """

    name: str
    profiles: frozenset[str]
    native: frozenset[str]

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Long-only weights summing to 1, in the atom order of ``problem``.

        Raises
        ------
        OptimizationError
            The library failed or the problem is infeasible (the message names why).
        """
        ...


# name -> (module, class, pip extra that installs its library or None for the base install)
ENGINES: dict[str, tuple[str, str, str | None]] = {
    "custom": ("tvs_pipeline.allocation.engines.custom", "CustomEngine", None),
    "skfolio": ("tvs_pipeline.allocation.engines.skfolio", "SkfolioEngine", None),
    "riskfolio": ("tvs_pipeline.allocation.engines.riskfolio", "RiskfolioEngine", "riskfolio"),
    "pyportfolioopt": (
        "tvs_pipeline.allocation.engines.pyportfolioopt",
        "PyPortfolioOptEngine",
        "pyportfolioopt",
    ),
    "cvxportfolio": (
        "tvs_pipeline.allocation.engines.cvxportfolio",
        "CvxportfolioEngine",
        "cvxportfolio",
    ),
}


def make_engine(name: str) -> Engine:
    """The engine named ``name``, its library imported now.

    Raises
    ------
    ConfigError
        Unknown engine (the known ones listed), or its optional library is not installed
        (the extra that installs it named).
    """
    entry = ENGINES.get(name)
    if entry is None:
        raise ConfigError(f"allocation engine {name!r}: unknown (known: {', '.join(ENGINES)})")
    module, cls, extra = entry
    try:
        return getattr(importlib.import_module(module), cls)()
    except ImportError as err:
        hint = f"pip install 'tvs_pipeline[{extra}]'" if extra else "reinstall tvs_pipeline"
        raise ConfigError(
            f"allocation engine {name!r}: its library is not installed ({err.name}); {hint}"
        ) from err


def check_pair(engine: Engine, profile: str) -> None:
    """Refuse a profile the engine does not translate, naming what it offers.

    Raises
    ------
    ConfigError
        ``"riskfolio: no 'barbell' (has: ...)"``-style, never a silent substitute.
    """
    if profile not in PROFILES:
        raise ConfigError(f"allocation profile {profile!r}: unknown (known: {', '.join(PROFILES)})")
    offered = supported_profiles(engine)
    if profile not in offered:
        raise ConfigError(
            f"allocation engine {engine.name!r}: no profile {profile!r} "
            f"(has: {', '.join(p for p in PROFILES if p in offered)})"
        )


def supported_profiles(engine: Engine) -> frozenset[str]:
    """The profiles ``engine`` answers: its own, and ``barbell`` when it has a core profile."""
    cores = {"min_variance", "hrp"}
    return engine.profiles | ({"barbell"} if engine.profiles & cores else set())
