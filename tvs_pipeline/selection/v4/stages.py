"""The six v4 stages; each calls the shared domain functions and appends one audit entry."""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
import pandas as pd

from tvs_pipeline.selection.clustering import assign_clusters
from tvs_pipeline.selection.engines.common import decision_frame
from tvs_pipeline.selection.features import FEATURE_COLUMNS, build_features, check_candidates
from tvs_pipeline.selection.ladder import ladder_reasons, run_ladder
from tvs_pipeline.selection.scoring import log_mps_score, metric_probabilities
from tvs_pipeline.selection.summary import winners_table
from tvs_pipeline.selection.table import PROBABILITY_COLUMNS, decision_table, prepare_candidates
from tvs_pipeline.selection.v4.context import SelectionContext, StageClock
from tvs_pipeline.selection.vetoes import hard_veto_reasons, veto_table

__all__ = [
    "ATOM_COLUMNS",
    "DEFAULT_LOGIC",
    "ENGINE_NAME",
    "ClusteringStage",
    "FeatureEngineeringStage",
    "InferenceStage",
    "IngestionStage",
    "PolicyStage",
    "Stage",
    "SynthesisStage",
]

ENGINE_NAME = "v4"
ATOM_COLUMNS = ("atom_id", "symbol", "logic", "direction", "sign")
DEFAULT_LOGIC = "default"  # the atom's logic when the candidates carry none


class Stage(Protocol):
    """A v4 stage: ``run`` returns a new context with one more audit entry."""

    name: ClassVar[str]

    def run(self, context: SelectionContext) -> SelectionContext:
        """Run the stage on ``context``."""
        ...


def _frame(context: SelectionContext) -> pd.DataFrame:
    """Features, probabilities and cluster of every candidate: what the ladder reads."""
    probabilities = context.inference[list(PROBABILITY_COLUMNS)]
    return context.features.join(probabilities).assign(cluster=context.clusters)


class IngestionStage:
    """Check the day's candidates and returns; RangeIndex candidates, returns by date.

    The same checks as `select` (required columns, LONG/SHORT, no clash with the output), so
    both engines refuse the same inputs with the same message.
    """

    name: ClassVar[str] = "ingestion"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Validate and normalise the inputs (raises `DataError` on bad candidates)."""
        context.require(self.name, ())
        clock = StageClock.start()
        candidates = prepare_candidates(context.candidates)
        direction = check_candidates(candidates)
        returns = context.returns.sort_index()
        listed = int(candidates["symbol"].astype("str").isin(returns.columns).sum())
        note = (
            f"{len(candidates)} candidates ({int((direction == 'LONG').sum())} LONG, "
            f"{int((direction == 'SHORT').sum())} SHORT), {listed} with a returns column; "
            f"panel {returns.shape[0]} days x {returns.shape[1]} listings"
        )
        return context.advance(
            self.name, clock, len(context.candidates), len(candidates), note,
            returns=returns, candidates=candidates,
        )  # fmt: skip


class FeatureEngineeringStage:
    """The feature store: `build_features`, the one frame scores, vetoes and clusters read."""

    name: ClassVar[str] = "features"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Compute every feature of every candidate."""
        context.require(self.name, ("ingestion",))
        clock = StageClock.start()
        features = build_features(context.returns, context.candidates, context.params.features)
        min_obs = context.params.vetoes.min_obs
        with_returns = int((features["n_obs"] > 0).sum())
        note = (
            f"{len(FEATURE_COLUMNS)} features; {with_returns} of {len(features)} candidates "
            f"have returns, {int((features['n_obs'] >= min_obs).sum())} at least "
            f"min_obs {min_obs}"
        )
        return context.advance(
            self.name, clock, len(context.candidates), len(features), note, features=features
        )


class InferenceStage:
    """Conviction: every metric probability (`metric_probabilities`) and the Log-MPS score."""

    name: ClassVar[str] = "inference"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Map the features to probabilities and score them (`log_mps_score`)."""
        context.require(self.name, ("features",))
        clock = StageClock.start()
        params = context.params
        probabilities = metric_probabilities(context.features)
        score = log_mps_score(probabilities, params.weights, params.fragility_penalty)
        inference = probabilities.assign(score=score)
        note = (
            f"{len(PROBABILITY_COLUMNS)} probabilities and the Log-MPS score; score range "
            f"[{_fmt(score.min())}, {_fmt(score.max())}]"
        )
        return context.advance(
            self.name, clock, len(context.features), len(inference), note, inference=inference
        )


class ClusteringStage:
    """Clusters of the listings with enough history (`assign_clusters`); -1 for the rest."""

    name: ClassVar[str] = "clustering"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Cluster with the shared parameters and v4's ``linkage`` option."""
        context.require(self.name, ("features",))
        clock = StageClock.start()
        params, linkage = context.params, context.params.v4.linkage
        clusters = assign_clusters(
            context.returns, context.features, params.clustering, params.vetoes.min_obs,
            method=linkage,
        )  # fmt: skip
        clustered = clusters >= 1
        note = (
            f"{clusters[clustered].nunique()} clusters ({linkage}, cut "
            f"{params.clustering.threshold}, at most {params.clustering.max_clusters}); "
            f"{int((~clustered).sum())} candidates unclustered"
        )
        return context.advance(
            self.name, clock, len(context.features), len(clusters), note,
            clusters=clusters.rename("cluster"),
        )  # fmt: skip


class PolicyStage:
    """Vetoes, Top-N per cluster and direction, and the relaxation loop (`run_ladder`).

    The ladder walks at most ``params.v4.max_stage`` stages (4, the HTR ladder, by default).
    """

    name: ClassVar[str] = "policy"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Decide every candidate."""
        context.require(self.name, ("inference", "clustering"))
        clock = StageClock.start()
        params, options = context.params, context.params.v4
        frame, score = _frame(context), context.inference["score"]
        thresholds = params.vetoes
        vetoes = veto_table(context.features, thresholds)
        ladder = run_ladder(
            frame, score, params.top_n, params.min_pool, thresholds, options.max_stage
        )
        hard_text = hard_veto_reasons(frame, thresholds)
        reasons = ladder_reasons(frame, ladder, params.top_n, params.min_pool, hard_text)
        policy = decision_frame(frame.index, score, ladder.picked, ladder.stage, reasons)
        walked = ", ".join(f"stage {k} -> {n}" for k, n in enumerate(ladder.counts, start=1))
        note = (
            f"{int(vetoes['hard_veto'].sum())} hard-vetoed, "
            f"{int((vetoes['soft_veto'] & ~vetoes['hard_veto']).sum())} soft-vetoed only; "
            f"winners {walked}; stopped at stage {ladder.final} (min_pool {params.min_pool}, "
            f"max_stage {options.max_stage})"
        )
        return context.advance(
            self.name, clock, len(frame), int(ladder.picked.sum()), note,
            vetoes=vetoes, policy=policy, ladder_stage=ladder.final, ladder_counts=ladder.counts,
        )  # fmt: skip


class SynthesisStage:
    """The decision table (`decision_table`), the winners and their strategy atoms."""

    name: ClassVar[str] = "synthesis"

    def run(self, context: SelectionContext) -> SelectionContext:
        """Assemble the output and the atoms ``SYMBOL|logic|DIRECTION`` of the winners."""
        context.require(self.name, ("policy",))
        from tvs_pipeline.synthesis import atom_id  # heavy (calendars): only when v4 runs

        clock = StageClock.start()
        decisions = decision_table(
            context.candidates, _frame(context), context.vetoes, context.policy,
            ENGINE_NAME, context.ladder_stage,
        )  # fmt: skip
        chosen = decisions.loc[decisions["selected"]]
        logic = (
            chosen["logic"].astype("str")
            if "logic" in chosen
            else pd.Series(DEFAULT_LOGIC, index=chosen.index, dtype="str")
        )
        direction = chosen["direction"].astype("str").str.upper()
        atoms = pd.DataFrame(
            {
                "atom_id": pd.array(
                    [atom_id(*key) for key in zip(chosen["symbol"], logic, direction, strict=True)],
                    dtype="str",
                ),
                "symbol": chosen["symbol"].astype("str").to_numpy(),
                "logic": logic.to_numpy(),
                "direction": direction.to_numpy(),
                "sign": np.where(direction == "SHORT", -1, 1).astype("int64"),
            }
        ).drop_duplicates("atom_id", ignore_index=True)
        winners = winners_table(decisions)
        shorts = int((atoms["sign"] < 0).sum())
        note = f"{len(winners)} winners, {len(atoms)} atoms ({shorts} short)"
        return context.advance(
            self.name, clock, len(decisions), len(atoms), note,
            decisions=decisions, winners=winners, atoms=atoms,
        )  # fmt: skip


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.4f}"
