"""Every selection parameter, nested as the profile writes it: the one place each default lives.

The profile's ``selection:`` block is validated straight into these types
(`tvs_pipeline.config.schema.SelectionConfig` extends `SelectionParams`), and the engines read
them nested (``params.vetoes.min_obs``), so a default is written once, on its field here or on
the type it nests (`FeatureParams`, `VetoThresholds`, `ClusteringParams`, `ConvictionWeights`,
`CarsWeights`).
"""

from __future__ import annotations

from pydantic import Field

from tvs_pipeline.parameters import Parameters
from tvs_pipeline.selection.clustering import ClusteringParams, Linkage
from tvs_pipeline.selection.features import FeatureParams
from tvs_pipeline.selection.rating import DEFAULT_RATING_HORIZON
from tvs_pipeline.selection.scoring import (
    DEFAULT_FRAGILITY_PENALTY,
    CarsWeights,
    ConvictionWeights,
    RatingCarsWeights,
    RatingWeights,
    ReversionCarsWeights,
    ReversionWeights,
)
from tvs_pipeline.selection.vetoes import VetoThresholds

__all__ = [
    "LOGIC_SCORES",
    "LOGIC_TIMESCALES",
    "RatingScores",
    "ReversionScores",
    "SelectionParams",
    "V4Options",
    "default_timescale",
]

# Each L3 logic's holding horizon, in its own sessions (an atom's timescale): where a strategy
# preset states no ``horizon``. Trends are held for a month, ratings for two weeks (the horizon
# their information coefficient reads), mean reversion for a week (the planted half-lives).
LOGIC_TIMESCALES = {
    "trend": 20,
    "momentum": 20,
    "breakout": 10,
    "rating": DEFAULT_RATING_HORIZON,
    "mean_reversion": 5,
}


def default_timescale(logic: str) -> int:
    """The holding horizon of ``logic`` in sessions (a trend's when the logic is unknown)."""
    return LOGIC_TIMESCALES.get(logic, LOGIC_TIMESCALES["trend"])


# A signal logic's pool: HTR's fallbacks (stages 3 and 4) recruit candidates its vetoes
# rejected, which for a logic that must show its own behaviour (a reversal, a rating followed)
# is trading noise under its name; five winners is enough for a sleeve of one logic.
LOGIC_MIN_POOL = 5


class ReversionScores(Parameters):
    """The mean-reversion logic's own parameters: score weights and the ladder's pool.

    Attributes
    ----------
    weights, cars_weights : ReversionWeights, ReversionCarsWeights
        Log-MPS exponents and CARS weights of its candidates.
    min_pool : int
        The ladder stops at the first stage with this many of its winners (5).
    """

    weights: ReversionWeights = Field(default_factory=ReversionWeights)
    cars_weights: ReversionCarsWeights = Field(default_factory=ReversionCarsWeights)
    min_pool: int = Field(LOGIC_MIN_POOL, ge=0, le=1000)


class RatingScores(Parameters):
    """The rating logic's own parameters: score weights and the ladder's pool.

    Attributes
    ----------
    weights, cars_weights : RatingWeights, RatingCarsWeights
        Log-MPS exponents and CARS weights of its candidates.
    min_pool : int
        The ladder stops at the first stage with this many of its winners (5).
    """

    weights: RatingWeights = Field(default_factory=RatingWeights)
    cars_weights: RatingCarsWeights = Field(default_factory=RatingCarsWeights)
    min_pool: int = Field(LOGIC_MIN_POOL, ge=0, le=1000)


# logic -> the SelectionParams field holding its own parameters; any other logic (trend,
# momentum, breakout) reads the top-level ``weights``, ``cars_weights`` and ``min_pool``.
LOGIC_SCORES = {"mean_reversion": "mean_reversion", "rating": "rating"}


class V4Options(Parameters):
    """Options of the v4 staged pipeline beyond what every engine reads.

    With its defaults v4 decides exactly as ``htr_3_4`` (same selected set, same scores), so a
    shadow path configured so cannot differ from the champion: set one of these in the
    profile (``selection.v4``) to run a real challenger.

    Attributes
    ----------
    max_stage : int, default 4
        The relaxation policy: the last ladder stage the policy may reach (1 strict only,
        2 strict then relaxed, 3 adds one representative per fully vetoed cluster, 4 the full
        HTR ladder with the global fill).
    linkage : {"ward", "average", "complete", "single"}, default "ward"
        How the clustering stage links the correlation distances (`cluster_listings`); the cut
        height stays ``clustering.threshold``.
    """

    max_stage: int = Field(4, ge=1, le=4)
    linkage: Linkage = "ward"

    @property
    def htr_equivalent(self) -> bool:
        """True when every option has its default: v4 then reproduces ``htr_3_4``."""
        return self == V4Options()


class SelectionParams(Parameters):
    """Everything a selection engine reads; the profile's ``selection:`` block, nested.

    Attributes
    ----------
    top_n : int
        Winners per cluster and direction (2).
    min_pool : int
        HTR stops at the first stage with at least this many winners (15).
    fragility_penalty : float
        Largest share of a Log-MPS score the fragility penalty takes (0.5).
    features : FeatureParams
        How the feature frame reads each listing.
    vetoes : VetoThresholds
        Veto thresholds (stage 1; stage 2 relaxes the soft ones).
    clustering : ClusteringParams
        Correlation-distance Ward clustering.
    weights, cars_weights : ConvictionWeights, CarsWeights
        Log-MPS exponents (``htr_3_4``, ``baseline``, ``v4``) and CARS weights (``cars_2_1``).
    v4 : V4Options
        The staged pipeline's own options (read by ``v4`` only).
    mean_reversion, rating : ReversionScores, RatingScores
        The score weights and pool of the mean-reversion and rating logics' candidates (every
        other logic reads ``weights``, ``cars_weights`` and ``min_pool``).
    """

    top_n: int = Field(2, ge=1, le=50)
    min_pool: int = Field(15, ge=0, le=1000)
    fragility_penalty: float = Field(DEFAULT_FRAGILITY_PENALTY, ge=0, lt=1)
    features: FeatureParams = Field(default_factory=FeatureParams)
    vetoes: VetoThresholds = Field(default_factory=VetoThresholds)
    clustering: ClusteringParams = Field(default_factory=ClusteringParams)
    weights: ConvictionWeights = Field(default_factory=ConvictionWeights)
    cars_weights: CarsWeights = Field(default_factory=CarsWeights)
    v4: V4Options = Field(default_factory=V4Options)
    mean_reversion: ReversionScores = Field(default_factory=ReversionScores)
    rating: RatingScores = Field(default_factory=RatingScores)

    def for_logic(self, logic: str) -> SelectionParams:
        """These parameters with ``weights``, ``cars_weights`` and ``min_pool`` of ``logic``."""
        if logic not in LOGIC_SCORES:
            return self
        own = getattr(self, LOGIC_SCORES[logic])
        update = {"weights": own.weights, "cars_weights": own.cars_weights}
        return self.model_copy(update=update | {"min_pool": own.min_pool})

    def params(self) -> SelectionParams:
        """The engine parameters alone (a `SelectionConfig` also names the engines)."""
        return SelectionParams.model_validate(
            {name: getattr(self, name) for name in SelectionParams.model_fields}
        )
