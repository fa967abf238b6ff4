"""Identity dedup: one primary listing per economic asset, logic and direction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.discovery import TAG_COLUMNS
from tvs_pipeline.funnel.health import HealthStatus
from tvs_pipeline.funnel.identity import parse_listing

__all__ = [
    "ADDED_COLUMNS",
    "CANDIDATE_COLUMNS",
    "CANDIDATE_FEATURES",
    "REQUIRED_COLUMNS",
    "dedup_day",
    "dedup_listings",
    "dedup_summary",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "symbol",
    "logic",
    "direction",
    "asset_class",
    "value_traded_usd",
)
ADDED_COLUMNS: tuple[str, ...] = ("identity", "multiplier", "alternates", "n_listings")
# Identities are compared within a namespace: a ticker is unique across the US equity and ETF
# exchanges, but NASDAQ:LINK (Interlink Electronics) is not BINANCE:LINKUSDT (Chainlink).
_NAMESPACE = {"etf": "equity"}
_GROUP = ["identity", "logic", "direction", "namespace"]
# What a candidate keeps of its scanner row (the scanner's tags but its rank in the scan),
# and of its enrichment features.
CANDIDATE_COLUMNS: tuple[str, ...] = ("symbol", *(c for c in TAG_COLUMNS if c != "rank"))
CANDIDATE_FEATURES: tuple[str, ...] = ("symbol", "adv_usd_20", "adx_14", "vol_ann", "sector")


def dedup_day(discovery: pd.DataFrame, enrichment: pd.DataFrame) -> pd.DataFrame:
    """One day's candidates (discovered and OK), deduplicated to one listing per identity.

    Two scanners of one logic and direction may both list a symbol: it is one candidate,
    the row of the scanner with the shorter ``timescale`` (the first listed on a tie).
    Liquidity (``value_traded_usd``) is the 20-day average traded value in USD.

    Parameters
    ----------
    discovery : DataFrame
        The ``discovery`` rows of day D (``CANDIDATE_COLUMNS`` among others).
    enrichment : DataFrame
        The ``enrichment`` rows of day D: ``status`` and ``CANDIDATE_FEATURES`` among others;
        only ``OK`` listings become candidates.

    Returns
    -------
    DataFrame
        `dedup_listings` of the candidates: ``CANDIDATE_COLUMNS``, the features but
        ``symbol``, ``value_traded_usd``, then ``ADDED_COLUMNS``.
    """
    ok = enrichment.loc[enrichment["status"] == HealthStatus.OK.value, list(CANDIDATE_FEATURES)]
    # A discovery partition written before atoms had a timescale lacks it (NaN: the logic's).
    if "timescale" not in discovery.columns:
        discovery = discovery.assign(timescale=np.nan)
    missing = [c for c in CANDIDATE_COLUMNS if c not in discovery.columns]
    if missing:
        raise DataError(f"dedup: discovery lacks {missing}")
    found = discovery[list(CANDIDATE_COLUMNS)].reset_index(drop=True)
    # Of two scanners of one logic at two horizons, the shorter's row, whatever their order:
    # synthesis makes one atom at the shortest horizon (methodology §9).
    found = found.sort_values("timescale", kind="mergesort", na_position="last")
    found = found.drop_duplicates(["symbol", "logic", "direction"]).sort_index()
    candidates = found.merge(ok, on="symbol", how="inner")
    return dedup_listings(candidates.assign(value_traded_usd=candidates["adv_usd_20"]))


def dedup_listings(candidates: pd.DataFrame) -> pd.DataFrame:
    """Keep the most liquid listing of each identity × logic × direction; list the rest.

    Listings are grouped by (`canonical_identity`, logic, direction) within an identity
    namespace: crypto, forex, futures, and equities with ETFs (one US ticker namespace). In each
    group the primary is the listing with the largest ``value_traded_usd``; NaN ranks last and
    ties go to the smallest ``symbol``. The primary keeps its own row unchanged (liquidity is
    never summed across venues) and gains the added columns.

    Parameters
    ----------
    candidates : DataFrame
        One row per (symbol, logic, direction), any index. Columns ``symbol`` (str,
        ``EXCHANGE:TICKER``), ``logic`` (str), ``direction`` (str), ``asset_class`` (str or
        missing, see `canonical_identity`), ``value_traded_usd`` (float, USD traded value, NaN
        when unknown), and any others, which are kept.

    Returns
    -------
    DataFrame
        RangeIndex, one row per group, sorted by identity, logic, direction (then namespace).
        The primary's columns, in input order, then ``identity`` (str), ``multiplier`` (int,
        the primary's contract multiplier), ``alternates`` (list of str: the other symbols of
        the group, most liquid first, ``[]`` when none) and ``n_listings`` (int, group size).

    Raises
    ------
    DataError
        A required column is missing, an added column already exists, a key is missing or
        repeated, ``value_traded_usd`` is not numeric, negative or infinite, or a symbol or
        asset class is invalid.
    """
    _check_candidates(candidates)
    value = candidates["value_traded_usd"].to_numpy(dtype=float, na_value=np.nan)
    parts = [
        parse_listing(symbol, None if pd.isna(cls) else cls)
        for symbol, cls in zip(
            candidates["symbol"].tolist(), candidates["asset_class"].tolist(), strict=True
        )
    ]
    keys = pd.DataFrame(
        {
            "identity": pd.array([p.identity for p in parts], dtype="str"),
            "logic": candidates["logic"].astype("str").to_numpy(),
            "direction": candidates["direction"].astype("str").to_numpy(),
            "namespace": [_NAMESPACE.get(p.asset_class, p.asset_class) for p in parts],
            "rank": np.where(np.isnan(value), np.inf, -value),
            "symbol": candidates["symbol"].astype("str").to_numpy(),
            "multiplier": np.array([p.multiplier for p in parts], dtype=np.int64),
        }
    )
    keys = keys.sort_values([*_GROUP, "rank", "symbol"], kind="mergesort", ignore_index=False)
    groups = keys.groupby(_GROUP, sort=False)
    primary = keys[groups.cumcount().to_numpy() == 0]
    # sort=False keeps the groups in order of first appearance: the order of `primary`.
    alternates = [members[1:] for members in groups["symbol"].agg(list).tolist()]
    out = candidates.iloc[primary.index.to_numpy()].reset_index(drop=True)
    return out.assign(
        identity=pd.array(primary["identity"].to_numpy(), dtype="str"),
        multiplier=primary["multiplier"].to_numpy(),
        alternates=pd.Series(alternates, dtype=object),
        n_listings=np.array([len(a) + 1 for a in alternates], dtype=np.int64),
    )


def dedup_summary(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, int]:
    """Counts describing one dedup, for asset metadata.

    Parameters
    ----------
    before : DataFrame
        The candidates given to `dedup_listings`.
    after : DataFrame
        Its result (columns ``identity`` and ``n_listings`` are read).

    Returns
    -------
    dict
        ``listings`` (rows before), ``primaries`` (rows after), ``unique_identities`` (distinct
        identities after, across logics and directions) and ``merged`` (listings folded into
        another as alternates), all int.

    Raises
    ------
    DataError
        ``after`` lacks ``identity`` or ``n_listings``, or its groups do not add up to
        ``before``.
    """
    missing = [c for c in ("identity", "n_listings") if c not in after.columns]
    if missing:
        raise DataError(f"dedup result: missing columns {missing} (expected dedup_listings output)")
    grouped = int(after["n_listings"].sum())
    if grouped != len(before):
        raise DataError(
            f"dedup result: groups hold {grouped} listings, the candidates have {len(before)}"
        )
    return {
        "listings": len(before),
        "primaries": len(after),
        "unique_identities": int(after["identity"].nunique()),
        "merged": len(before) - len(after),
    }


def _check_candidates(candidates: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in candidates.columns]
    if missing:
        raise DataError(
            f"dedup candidates: missing columns {missing} (expected {list(REQUIRED_COLUMNS)})"
        )
    taken = [c for c in ADDED_COLUMNS if c in candidates.columns]
    if taken:
        raise DataError(f"dedup candidates: columns {taken} already exist (dedup adds them)")
    for column in ("symbol", "logic", "direction"):
        if candidates[column].isna().any():
            where = candidates.index[candidates[column].isna().to_numpy()][0]
            raise DataError(f"dedup candidates: {column} missing at index {where!r}")
    repeated = candidates.duplicated(["symbol", "logic", "direction"])
    if repeated.any():
        row = candidates[repeated.to_numpy()].iloc[0]
        raise DataError(
            f"dedup candidates: ({row['symbol']}, {row['logic']}, {row['direction']}) "
            "appears more than once (expected one row per symbol, logic, direction)"
        )
    value = candidates["value_traded_usd"]
    if not pd.api.types.is_numeric_dtype(value) or pd.api.types.is_bool_dtype(value):
        raise DataError(f"dedup candidates: value_traded_usd is {value.dtype}, expected a number")
    numbers = value.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(numbers) | (numbers < 0)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"dedup candidates: {candidates['symbol'].iloc[position]} value_traded_usd "
            f"{numbers[position]!r} is not a finite non-negative number"
        )
