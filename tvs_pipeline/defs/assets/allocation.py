"""Allocation stage: the day's market and regime, and each role's book carried day to day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.allocation.book import EXPOSURE_COLUMNS
from tvs_pipeline.allocation.chart import weights_chart_markdown
from tvs_pipeline.allocation.market import market_day
from tvs_pipeline.allocation.rebalance import BookKeeper, exposure_finding
from tvs_pipeline.defs.carry import day_before, last_partition, session_returns
from tvs_pipeline.defs.days import day_verdict, metric, run_days
from tvs_pipeline.defs.partitions import daily_asset, day_check, day_rows, partition_days
from tvs_pipeline.defs.resources import ComputeResource, LakeResource, ProfileResource
from tvs_pipeline.defs.roles import Role, asset_name, role_asset
from tvs_pipeline.simulation.friction import FrictionModel

__all__ = ["allocation_asset", "allocation_metadata", "market"]

WARN = dg.AssetCheckSeverity.WARN
REGIME_LEVELS = {"normal": 0, "turbulent": 1, "crisis": 2}
PERCENT = 100.0
BPS = 1e4


@dg.asset(**daily_asset("allocation"))
def market(
    context: dg.AssetExecutionContext,
    normalization: pd.DataFrame,
    compute: ComputeResource,
    profile: ProfileResource,
) -> pd.DataFrame:
    """The universe's equal-weight index over the estimation window and day D's regime."""
    settings = profile.resolved().allocation
    days = run_days(
        context, market_day, compute, sliced={"panel": normalization},
        shared={"thresholds": settings.regime, "rows": settings.estimation_days},
        metadata=market_metadata,
    )  # fmt: skip
    context.add_output_metadata(days.metadata)
    return days.table


def market_metadata(market: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """One day's regime (as text, and as a number for the Plots tab) and universe size."""
    regime = str(market["regime"].iloc[-1]) if len(market) else ""
    return {
        "regime": dg.MetadataValue.text(regime),
        # normal 0, turbulent 1, crisis 2: the regime over the partitions, charted.
        "regime_level": dg.MetadataValue.int(REGIME_LEVELS.get(regime.lower(), -1)),
    }


def allocation_metadata(book: pd.DataFrame, regime: str) -> dict[str, dg.MetadataValue]:
    """Engine, regime, caps, exposures, the planned trade and a weights chart of one day's book.

    Exposures, caps, drift and turnover are percents (``gross_exposure_pct`` 100.0 for a
    fully invested book), the planned cost in basis points: numbers the Plots tab charts.
    """
    if book.empty:
        return {"atoms": dg.MetadataValue.int(0), "listings_held": dg.MetadataValue.int(0)}
    atoms = book.loc[book["kind"] == "atom"]
    physical = book.loc[book["kind"] == "physical", ["symbol", "net_weight"]]
    first = atoms.iloc[0] if len(atoms) else book.iloc[0]
    numbers = {
        f"{name}_pct": metric(float(book[name].iloc[0]) * PERCENT)
        for name in (*EXPOSURE_COLUMNS, "drift", "planned_turnover")
        if name != "beta"
    }
    held = physical.loc[physical["net_weight"].abs() > 0]
    table = (
        held.assign(net_weight=held["net_weight"] * PERCENT)
        .rename(columns={"net_weight": "net weight (%)"})
        .sort_values("net weight (%)")
        .to_markdown(index=False, floatfmt=".2f")
    )
    title = f"{first['engine_used']}/{first['profile']}, {regime}"
    reason = str(book["rebalance_reason"].iloc[0]) or "held (no rebalance)"
    return {
        "engine": dg.MetadataValue.text(f"{first['engine_used']}/{first['profile']}"),
        # Under `profile: auto`, which regime chose the profile.
        "profile_choice": dg.MetadataValue.text(str(first.get("profile_choice") or "fixed")),
        "regime": dg.MetadataValue.text(regime),
        "rebalance": dg.MetadataValue.text(reason),
        "max_weight_pct": metric(float(first["max_weight"]) * PERCENT),
        "cluster_cap_pct": metric(float(first["cluster_cap"]) * PERCENT),
        "fallback_reason": dg.MetadataValue.text(str(first["fallback_reason"]) or "none"),
        "atoms": dg.MetadataValue.int(len(atoms)),
        "listings_held": dg.MetadataValue.int(len(held)),
        **numbers,
        "beta": metric(float(book["beta"].iloc[0]), 4),
        "planned_cost_bps": metric(float(book["planned_cost"].iloc[0]) * BPS),
        "weights_chart": dg.MetadataValue.md(weights_chart_markdown(physical, title)),
        "weights": dg.MetadataValue.md(table or "_none_"),
    }


def allocation_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``allocation``: yesterday's book drifted to today, re-optimised on cadence."""
    inputs = {"synthesis": "synthesis", "selection": "selection", "market": "market"}
    name = asset_name("allocation", role)

    check = day_check(
        "exposure_on_target",
        name,
        "Physical net weights sum to the atoms' net, and a traded book is fully invested "
        "(docs/methodology.md §11.2).",
    )

    @dg.asset(
        **role_asset(
            "allocation",
            role,
            inputs,
            "skfolio",
            deps=[day_before(name), "normalization"],
            check_specs=[check],
        )
    )
    def allocation(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        selection: pd.DataFrame,
        market: pd.DataFrame,
        profile: ProfileResource,
        lake: LakeResource,
    ):
        """The book decided at the close of D (held over D+1): per atom and per listing.

        It starts from the book of D−1 held over session D, so its days run in order.
        """
        resolved, reader, days = profile.resolved(), lake.reader(), partition_days(context)
        previous, previous_day = last_partition(reader, name, days[0])
        keeper = BookKeeper(
            resolved.allocation,
            FrictionModel.from_config(resolved.simulation),
            resolved.run.step,
            resolved.run.rebalance_drift,
            previous,
            previous_day,
        )
        sliced = {
            "atoms": synthesis,
            "decisions": selection,
            "market": market,
            "session_returns": session_returns(reader, days),
        }
        regimes = market.groupby("date")["regime"].last() if len(market) else pd.Series()

        def describe(book: pd.DataFrame, as_of) -> dict[str, dg.MetadataValue]:
            return allocation_metadata(book, str(regimes.get(pd.Timestamp(as_of), "")))

        run = run_days(context, keeper.decide_day, sliced=sliced, metadata=describe)
        yield dg.Output(run.table, metadata=run.metadata)
        found = {day.isoformat(): exposure_finding(day_rows(run.table, day)) for day in run.days}
        failing = {day: finding for day, finding in found.items() if finding}
        yield day_verdict(check, failing, key="days_off_target", severity=WARN)

    return allocation
