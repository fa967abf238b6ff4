"""What a day's selection looks like at a glance: funnel counts and the winners table."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.vetoes import VETO_CODES

__all__ = ["WINNER_COLUMNS", "funnel_counts", "winners_table"]

WINNER_COLUMNS = ("symbol", "sleeve", "direction", "cluster", "stage", "score", "rank")


def funnel_counts(decisions: pd.DataFrame) -> dict[str, int]:
    """Counts along the selection funnel of one day's decisions (one engine).

    Parameters
    ----------
    decisions : DataFrame
        `select` output for one day.

    Returns
    -------
    dict of str to int
        ``candidates``, ``with_returns``, ``hard_vetoed``, ``soft_vetoed`` (soft vetoes only),
        ``passed_vetoes``, ``clusters``, ``selected``, ``selected_stage_1`` .. ``_4``,
        ``ladder_stage``, and ``veto_<code>`` for each code of ``VETO_CODES`` (a candidate can
        carry several).
    """
    vetoes = decisions["vetoes"].map(list) if len(decisions) else pd.Series(dtype="object")
    has_soft = vetoes.map(bool) & ~decisions["hard_veto"].astype(bool)
    counts = {
        "candidates": len(decisions),
        "with_returns": int((decisions["n_obs"] > 0).sum()),
        "hard_vetoed": int(decisions["hard_veto"].sum()),
        "soft_vetoed": int(has_soft.sum()),
        "passed_vetoes": int((vetoes.map(len) == 0).sum()),
        "clusters": int(decisions.loc[decisions["cluster"] >= 1, "cluster"].nunique()),
        "selected": int(decisions["selected"].sum()),
    }
    for stage in (1, 2, 3, 4):
        counts[f"selected_stage_{stage}"] = int(
            (decisions["selected"] & (decisions["stage"] == stage)).sum()
        )
    counts["ladder_stage"] = int(decisions["ladder_stage"].max()) if len(decisions) else 0
    for code in VETO_CODES:
        counts[f"veto_{code}"] = int(vetoes.map(lambda codes, c=code: c in codes).sum())
    return counts


def winners_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """The selected candidates, by direction then best score first.

    Returns
    -------
    DataFrame
        RangeIndex; the columns of ``WINNER_COLUMNS`` that ``decisions`` has.
    """
    columns = [c for c in WINNER_COLUMNS if c in decisions.columns]
    chosen = decisions.loc[decisions["selected"].astype(bool), columns]
    chosen = chosen.sort_values(["direction", "score", "symbol"], ascending=[True, False, True])
    return chosen.reset_index(drop=True)
