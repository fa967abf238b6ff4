"""Champion/challenger parity of one day: selected-set overlap, score agreement, weight distance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "DECISION_KEYS",
    "PARITY_COLUMNS",
    "ParityThresholds",
    "compare_decisions",
    "day_parity",
    "parity_verdict",
    "spearman",
    "weight_distance",
]

DECISION_KEYS = ("symbol", "direction")  # plus ``logic`` when both frames carry it
PARITY_COLUMNS = (
    "candidates_champion",
    "candidates_challenger",
    "common",
    "selected_champion",
    "selected_challenger",
    "both",
    "champion_only",
    "challenger_only",
    "jaccard",
    "scored_pairs",
    "spearman",
    "max_score_diff",
    "weight_l1",
)


@dataclass(frozen=True)
class ParityThresholds:
    """When a champion and a challenger agree (docs/methodology.md, section 8).

    Attributes
    ----------
    jaccard_min : float
        Fewest shared winners, as a share of all winners of either (0.8: ``k`` swaps in a
        pool of ``n`` give ``(n - k) / (n + k)``, so one swap passes from a pool of 9, two
        from 18).
    spearman_min : float
        Lowest rank correlation of the scores over the common candidates (0.9).
    weight_l1_max : float
        Largest ``sum |w_a - w_b|`` of the physical net weights (0.25: 12.5 % of the book
        moved from some names to others, both legs counted); checked only when weights were
        compared.
    score_diff_max : float or None
        Largest absolute score difference; ``None`` (default) does not check it, because
        engines may score on different scales. Set it (e.g. ``1e-9``) to check an engine that
        claims the champion's scores, such as ``v4`` against ``htr_3_4``.
    """

    jaccard_min: float = 0.8
    spearman_min: float = 0.9
    weight_l1_max: float = 0.25
    score_diff_max: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.jaccard_min <= 1.0:
            raise ConfigError(f"parity: jaccard_min {self.jaccard_min} is outside [0, 1]")
        if not -1.0 <= self.spearman_min <= 1.0:
            raise ConfigError(f"parity: spearman_min {self.spearman_min} is outside [-1, 1]")
        if not self.weight_l1_max >= 0.0:
            raise ConfigError(f"parity: weight_l1_max {self.weight_l1_max} must be >= 0")
        if self.score_diff_max is not None and not self.score_diff_max >= 0.0:
            raise ConfigError(f"parity: score_diff_max {self.score_diff_max} must be >= 0")


def _keyed(frame: pd.DataFrame, keys: list[str], what: str) -> pd.DataFrame:
    """``selected`` (bool) and ``score`` (float) indexed by the candidate key."""
    missing = [c for c in (*keys, "selected", "score") if c not in frame.columns]
    if missing:
        raise DataError(f"parity {what}: missing columns {missing}")
    if frame["selected"].isna().any():
        raise DataError(f"parity {what}: 'selected' has missing values")
    index = pd.MultiIndex.from_frame(frame[keys].astype("str"))
    repeated = index[index.duplicated()]
    if len(repeated):
        raise DataError(f"parity {what}: candidate {tuple(repeated[0])} appears more than once")
    score = pd.to_numeric(frame["score"], errors="coerce").astype("float64")
    return pd.DataFrame(
        {"selected": frame["selected"].astype(bool).to_numpy(), "score": score.to_numpy()},
        index=index,
    )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the pairs where both values are finite.

    Ranks are averaged over ties (the Pearson correlation of the ranks).

    Returns
    -------
    float
        In [-1, 1]; NaN with fewer than two finite pairs or when one side is constant over
        them.
    """
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 2:
        return float("nan")
    from scipy.stats import rankdata  # scipy.stats costs 0.6 s to import: only when ranking

    ra, rb = rankdata(a[both]), rankdata(b[both])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    if denominator == 0:
        return float("nan")
    return float(np.clip((ra * rb).sum() / denominator, -1.0, 1.0))


def _net_weights(weights: pd.DataFrame, what: str) -> pd.Series:
    missing = [c for c in ("symbol", "net_weight") if c not in weights.columns]
    if missing:
        raise DataError(f"parity {what} weights: missing columns {missing}")
    symbols = weights["symbol"].astype("str")
    if symbols.duplicated().any():
        raise DataError(
            f"parity {what} weights: symbol {symbols[symbols.duplicated()].iloc[0]!r} "
            "appears more than once"
        )
    values = pd.to_numeric(weights["net_weight"], errors="coerce").astype("float64")
    if not np.isfinite(values.to_numpy()).all():
        raise DataError(f"parity {what} weights: net_weight must be finite")
    return pd.Series(values.to_numpy(), index=symbols.to_numpy())


def weight_distance(champion: pd.DataFrame, challenger: pd.DataFrame) -> float:
    """L1 distance ``sum |w_a - w_b|`` of two books over the union of symbols (missing = 0).

    Parameters
    ----------
    champion, challenger : DataFrame
        Any index; ``symbol`` (unique) and ``net_weight`` (finite), e.g. the physical rows of
        the allocation.

    Returns
    -------
    float
        In [0, ``sum |w_a| + sum |w_b|``]; 0 for identical books.

    Raises
    ------
    DataError
        A missing column, a repeated symbol or a non-finite weight.
    """
    a = _net_weights(champion, "champion")
    b = _net_weights(challenger, "challenger")
    union = a.index.union(b.index)
    return float((a.reindex(union, fill_value=0.0) - b.reindex(union, fill_value=0.0)).abs().sum())


def compare_decisions(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    champion_weights: pd.DataFrame | None = None,
    challenger_weights: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Parity of two engines' decisions for the same day (and optionally of their books).

    A candidate is keyed by ``symbol`` and ``direction`` (and ``logic`` when both frames carry
    it); the key must be unique in each frame.

    Parameters
    ----------
    champion, challenger : DataFrame
        One row per candidate, any index: ``symbol``, ``direction``, ``selected`` (bool, no
        missing value) and ``score`` (float, NaN allowed), e.g. two `select` outputs.
    champion_weights, challenger_weights : DataFrame, optional
        Both or neither: ``symbol`` and ``net_weight`` (see `weight_distance`).

    Returns
    -------
    DataFrame
        One row (RangeIndex), columns ``PARITY_COLUMNS``:

        - ``candidates_champion``, ``candidates_challenger``, ``common`` (int): candidates of
          each and of both;
        - ``selected_champion``, ``selected_challenger`` (int): winners of each;
        - ``both``, ``champion_only``, ``challenger_only`` (int): the two selected sets'
          intersection and differences;
        - ``jaccard`` (float): ``both / (both + champion_only + challenger_only)``, 1.0 when
          neither selects anything;
        - ``scored_pairs`` (int): common candidates with a finite score on both sides;
        - ``spearman`` (float): rank correlation of the scores over them (`spearman`; NaN
          with fewer than two pairs or a constant side);
        - ``max_score_diff`` (float): largest ``|score_a - score_b|`` over them (NaN without
          a pair);
        - ``weight_l1`` (float): `weight_distance` of the books, NaN when no weights given.

    Raises
    ------
    DataError
        A missing column, a repeated candidate key, a missing ``selected`` value, or weights
        for one side only (and see `weight_distance`).
    """
    keys = list(DECISION_KEYS)
    if "logic" in champion.columns and "logic" in challenger.columns:
        keys.append("logic")
    a = _keyed(champion, keys, "champion")
    b = _keyed(challenger, keys, "challenger")
    if (champion_weights is None) != (challenger_weights is None):
        given = "champion" if champion_weights is not None else "challenger"
        raise DataError(f"parity: weights given for the {given} only; pass both or neither")
    chosen_a, chosen_b = set(a.index[a["selected"]]), set(b.index[b["selected"]])
    both, union = len(chosen_a & chosen_b), len(chosen_a | chosen_b)
    common = a.index.intersection(b.index, sort=False)
    score_a = a.loc[common, "score"].to_numpy()
    score_b = b.loc[common, "score"].to_numpy()
    paired = np.isfinite(score_a) & np.isfinite(score_b)
    diff = np.abs(score_a[paired] - score_b[paired])
    weight_l1 = (
        weight_distance(champion_weights, challenger_weights)
        if champion_weights is not None and challenger_weights is not None
        else float("nan")
    )
    row = {
        "candidates_champion": len(a),
        "candidates_challenger": len(b),
        "common": len(common),
        "selected_champion": len(chosen_a),
        "selected_challenger": len(chosen_b),
        "both": both,
        "champion_only": len(chosen_a - chosen_b),
        "challenger_only": len(chosen_b - chosen_a),
        "jaccard": both / union if union else 1.0,
        "scored_pairs": int(paired.sum()),
        "spearman": spearman(score_a, score_b),
        "max_score_diff": float(diff.max()) if len(diff) else float("nan"),
        "weight_l1": weight_l1,
    }
    out = pd.DataFrame({name: [value] for name, value in row.items()})
    floats = ["jaccard", "spearman", "max_score_diff", "weight_l1"]
    return out.astype({c: ("float64" if c in floats else "int64") for c in PARITY_COLUMNS})


def parity_verdict(
    row: pd.Series | pd.DataFrame, thresholds: ParityThresholds | None = None
) -> tuple[bool, list[str]]:
    """Whether a day's parity passes, and why not.

    Checks: ``jaccard >= jaccard_min``; ``spearman >= spearman_min`` (skipped with fewer than
    two scored pairs; an undefined correlation over two or more pairs, a constant score,
    fails); ``weight_l1 <= weight_l1_max`` when weights were compared (not NaN);
    ``max_score_diff <= score_diff_max`` when that threshold is set and a pair exists.

    Parameters
    ----------
    row : Series or DataFrame
        `compare_decisions` output (its one row, or the one-row frame).
    thresholds : ParityThresholds, optional
        Default ``ParityThresholds()``: Jaccard >= 0.8, Spearman >= 0.9, weight L1 <= 0.25,
        score difference not checked.

    Returns
    -------
    tuple of (bool, list of str)
        ``passed`` and one reason per failed check (empty when passed).

    Raises
    ------
    DataError
        A frame with other than one row, or a missing ``PARITY_COLUMNS`` column.
    """
    t = thresholds or ParityThresholds()
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise DataError(f"parity verdict: expected one row, got {len(row)}")
        row = row.iloc[0]
    missing = [c for c in PARITY_COLUMNS if c not in row.index]
    if missing:
        raise DataError(f"parity verdict: missing columns {missing}")
    reasons = []
    if not row["jaccard"] >= t.jaccard_min:
        reasons.append(
            f"jaccard {row['jaccard']:.3f} < {t.jaccard_min} ({int(row['both'])} both, "
            f"{int(row['champion_only'])} champion-only, "
            f"{int(row['challenger_only'])} challenger-only)"
        )
    pairs = int(row["scored_pairs"])
    if pairs >= 2 and np.isnan(row["spearman"]):
        reasons.append(f"spearman undefined over {pairs} scored pairs (a constant score)")
    elif pairs >= 2 and row["spearman"] < t.spearman_min:
        reasons.append(f"spearman {row['spearman']:.3f} < {t.spearman_min} over {pairs} pairs")
    if not np.isnan(row["weight_l1"]) and row["weight_l1"] > t.weight_l1_max:
        reasons.append(f"weight L1 {row['weight_l1']:.4f} > {t.weight_l1_max}")
    diff = row["max_score_diff"]
    if t.score_diff_max is not None and not np.isnan(diff) and diff > t.score_diff_max:
        reasons.append(f"max score difference {diff:.3g} > {t.score_diff_max}")
    return not reasons, reasons


def day_parity(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    champion_weights: pd.DataFrame,
    challenger_weights: pd.DataFrame,
    thresholds: ParityThresholds | None = None,
) -> pd.DataFrame:
    """One day's parity row of the two roles, with their engines and the verdict.

    Parameters
    ----------
    champion, challenger : DataFrame
        The ``selection`` and ``selection_challenger`` rows of day D (`compare_decisions`'
        columns and ``engine``).
    champion_weights, challenger_weights : DataFrame
        The ``allocation`` and ``allocation_challenger`` rows of day D; their ``physical``
        rows (``symbol``, ``net_weight``) are compared.
    thresholds : ParityThresholds, optional
        As in `parity_verdict`.

    Returns
    -------
    DataFrame
        One row: ``PARITY_COLUMNS``, then ``champion_engine`` and ``challenger_engine`` (str,
        empty for a side without candidates), ``passed`` (bool) and ``reasons`` (the failed
        checks joined by ``"; "``).
    """
    row = compare_decisions(
        champion, challenger, _physical(champion_weights), _physical(challenger_weights)
    )
    passed, reasons = parity_verdict(row, thresholds)
    return row.assign(
        champion_engine=str(champion["engine"].iloc[0]) if len(champion) else "",
        challenger_engine=str(challenger["engine"].iloc[0]) if len(challenger) else "",
        passed=passed,
        reasons="; ".join(reasons),
    )


def _physical(weights: pd.DataFrame) -> pd.DataFrame:
    """The physical rows of a book: [symbol, net_weight]."""
    return weights.loc[weights["kind"] == "physical", ["symbol", "net_weight"]]
