"""The v4 engine: the six stages in order over one `SelectionContext`."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.v4.context import SelectionContext
from tvs_pipeline.selection.v4.stages import (
    ClusteringStage,
    FeatureEngineeringStage,
    InferenceStage,
    IngestionStage,
    PolicyStage,
    Stage,
    SynthesisStage,
)

__all__ = ["AUDIT_ATTR", "DEFAULT_RUN_ID", "V4Engine", "run_v4", "v4_audit"]

DEFAULT_RUN_ID = "v4"
# The decisions frame carries the run's audit trail (`SelectionContext.audit_record`) under
# this ``attrs`` key, so the shell's ledger can keep it (``lake.ledger.AUDIT_TRAIL_ATTR``).
AUDIT_ATTR = "audit_trail"


class V4Engine:
    """The staged v4 selection: ingestion, features, inference, clustering, policy, synthesis.

    Every stage calls the functions ``htr_3_4`` calls (`build_features`,
    `metric_probabilities`, `log_mps_score`, `assign_clusters`, `veto_table`, `run_ladder`,
    `decision_table`), so with default options its decisions equal ``htr_3_4``'s: same
    selected set, same scores. What v4 adds is the explicit context and its audit trail.

    Parameters
    ----------
    params : SelectionParams, optional
        Selection parameters, v4's own options in ``params.v4`` (default ``SelectionParams()``:
        the ``htr_3_4``-equivalent configuration).
    """

    name = "v4"

    def __init__(self, params: SelectionParams | None = None) -> None:
        self.params = params

    def stages(self) -> tuple[Stage, ...]:
        """The stages, in the order they run."""
        return (
            IngestionStage(),
            FeatureEngineeringStage(),
            InferenceStage(),
            ClusteringStage(),
            PolicyStage(),
            SynthesisStage(),
        )

    def start(
        self, returns: pd.DataFrame, candidates: pd.DataFrame, run_id: str = DEFAULT_RUN_ID
    ) -> SelectionContext:
        """The context before any stage: inputs, parameters, an empty audit trail.

        Raises
        ------
        pydantic.ValidationError
            ``run_id`` is not letters, digits and ``_ . : -``, or an input is not a frame.
        """
        return SelectionContext(
            run_id=run_id,
            params=self.params or SelectionParams(),
            returns=returns,
            candidates=candidates,
        )

    def run(
        self, returns: pd.DataFrame, candidates: pd.DataFrame, run_id: str = DEFAULT_RUN_ID
    ) -> SelectionContext:
        """Run every stage over one day.

        Parameters
        ----------
        returns : DataFrame
            Dates x symbols, daily simple returns up to the as-of date (see `select`).
        candidates : DataFrame
            The day's candidates (see `select`). Neither input is modified.
        run_id : str, default "v4"
            Recorded in the audit trail.

        Returns
        -------
        SelectionContext
            Every product set; ``decisions`` is `select`'s output table (``engine = "v4"``)
            and ``audit`` holds six entries. ``decisions.attrs[AUDIT_ATTR]`` is the trail
            (`SelectionContext.audit_record`); the frame's values do not depend on it.

        Raises
        ------
        DataError
            Bad candidates (as `select`).
        """
        context = self.start(returns, candidates, run_id)
        for stage in self.stages():
            context = stage.run(context)
        context.decisions.attrs[AUDIT_ATTR] = context.audit_record()
        return context

    def decide(self, returns: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
        """One day's decisions, the `SelectionEngine` call (the context's ``decisions``)."""
        return self.run(returns, candidates).decisions


def run_v4(
    returns: pd.DataFrame,
    candidates: pd.DataFrame,
    run_id: str = DEFAULT_RUN_ID,
    params: SelectionParams | None = None,
) -> SelectionContext:
    """Run v4 over one day and return the whole context (decisions, atoms, audit trail).

    ``select(returns, candidates, "v4", params)`` returns ``run_v4(...).decisions``.

    Parameters
    ----------
    returns, candidates : DataFrame
        As `select`.
    run_id : str, default "v4"
        Identifies the run in the audit trail.
    params : SelectionParams, optional
        Selection parameters and v4's options (``params.v4``).

    Returns
    -------
    SelectionContext
        After the synthesis stage.

    Raises
    ------
    DataError
        Bad candidates.
    """
    return V4Engine(params).run(returns, candidates, run_id)


def v4_audit(context: SelectionContext) -> pd.DataFrame:
    """The audit trail of a v4 run, one row per stage, for the shell to record.

    Returns
    -------
    DataFrame
        RangeIndex; ``run_id``, ``stage``, ``started`` (UTC), ``seconds``, ``rows_in``,
        ``rows_out``, ``note``, ``digest`` (the hash chain).

    Raises
    ------
    DataError
        The trail was altered (see `SelectionContext.verify_audit`).
    """
    context.verify_audit()
    return context.audit_frame()
