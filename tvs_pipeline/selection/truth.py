"""How each logic's selections hit the demo market's planted ground truth (issue 15's table)."""

from __future__ import annotations

import pandas as pd

__all__ = ["PLANTED_KINDS", "planted_kind", "truth_table"]

PLANTED_KINDS = ("trend", "mean_revert", "rated", "random_walk", "factor")


def planted_kind(decisions: pd.DataFrame, kind: pd.Series) -> pd.Series:
    """Each candidate's planted kind as its side sees it.

    Parameters
    ----------
    decisions : DataFrame
        ``symbol`` and ``direction`` per candidate.
    kind : Series
        ``DemoMarket.ground_truth()``'s ``kind`` indexed by symbol.

    Returns
    -------
    Series
        Same index: ``trend`` for a planted trend listed in its own direction (an up-trend
        LONG, a down-trend SHORT), ``trend_against`` for one listed against it, else the
        listing's kind (NaN when it has none).
    """
    truth = decisions["symbol"].map(kind)
    up, down = truth == "trend_up", truth == "trend_down"
    own = (up & (decisions["direction"] == "LONG")) | (down & (decisions["direction"] == "SHORT"))
    return truth.where(~(up | down), "trend_against").mask(own, "trend")


def truth_table(decisions: pd.DataFrame, kinds: tuple[str, ...] = PLANTED_KINDS) -> pd.DataFrame:
    """Per logic and planted kind: the base rate, the hit rate and the lift.

    Parameters
    ----------
    decisions : DataFrame
        Any number of days' decisions: ``logic``, ``selected`` and ``planted``
        (`planted_kind`).
    kinds : tuple of str
        The planted kinds to report.

    Returns
    -------
    DataFrame
        Index ``logic`` (sorted); ``candidates`` and ``selected`` (counts), then per kind
        ``<kind> base`` (its share of the logic's candidates: what picking at random among them
        would hit), ``<kind> hit`` (its share of the logic's selections, NaN without any) and
        ``<kind> lift`` (hit / base, NaN when the base is 0).
    """
    rows = {}
    for logic, part in decisions.groupby("logic", sort=True):
        chosen = part.loc[part["selected"].astype(bool)]
        row: dict[str, float] = {"candidates": len(part), "selected": len(chosen)}
        for kind in kinds:
            base = float((part["planted"] == kind).mean())
            hit = float((chosen["planted"] == kind).mean()) if len(chosen) else float("nan")
            row[f"{kind} base"] = base
            row[f"{kind} hit"] = hit
            row[f"{kind} lift"] = hit / base if base > 0 else float("nan")
        rows[logic] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("logic")
