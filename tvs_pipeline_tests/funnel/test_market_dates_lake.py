"""The +4 h market-day rule end to end: FX and futures bars of a real run, read from the lake.

A real materialisation of the demo profile's funnel (the nightly path from discovery to dedup,
on a temporary instance and lake, demo market at scale 100) writes the bars of the FX and
futures sleeves to Parquet; DuckDB reads them back. Each stored bar is matched to the bar
the market served (same listing, same close) and its UTC open instant, and the market date is
checked against dates written out by hand and, for every bar, against the calendar: an FX or
CME Globex bar opens the evening before its session (21:00-23:00 UTC), so its market date is
the next calendar day, never a weekend, and a CMES session for futures.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.funnel.calendars import sessions
from tvs_pipeline.lake.catalog import query_lake
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.settings import load_settings

# Monday after the US switch to daylight saving (Sunday 2025-03-09): the 500-day window holds
# FX and Globex opens at 22:00/23:00 UTC (winter) and 21:00/22:00 UTC (summer).
DAY = "2025-03-10"
SCALE = 100
# By hand, from the clock: 17:00 New York (FX) and 17:00 Chicago (CME Globex) of the evening
# before, in UTC, and the session that evening opens.
BY_HAND = [
    ("FX:EURUSD", "2025-03-09 21:00", "2025-03-10"),  # Sunday 17:00 EDT -> Monday
    ("FX:EURUSD", "2025-03-06 22:00", "2025-03-07"),  # Thursday 17:00 EST -> Friday
    ("FX:USDJPY", "2024-12-24 22:00", "2024-12-25"),  # FX keeps no holiday
    ("FX:GBPUSD", "2024-07-04 21:00", "2024-07-05"),
    ("COMEX:GC1!", "2025-03-09 22:00", "2025-03-10"),  # Sunday 17:00 CDT -> Monday
    ("COMEX:GC1!", "2025-01-05 23:00", "2025-01-06"),  # Sunday 17:00 CST -> Monday
    ("NYMEX:NG1!", "2024-12-26 23:00", "2024-12-27"),  # the day after Christmas
    ("CME_MINI:ES1!", "2024-11-03 23:00", "2024-11-04"),  # the first Sunday back on CST
]
# The nightly path up to dedup: bars dated, health judged, identities given.
FUNNEL = ("discovery", "bars", "fetch_failures", "data_health", "normalization", "enrichment",
          "dedup")  # fmt: skip
SQL = """
select symbol, market_date, close
from bars
where symbol like 'FX:%' or symbol like '%1!'
order by symbol, market_date
"""


pytestmark = pytest.mark.slow  # one real run of the funnel: 7 s (load 2.5), 25-31 s (load 8-10)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The lake of a real run of the funnel (discovery to dedup) for DAY, and its market."""
    settings = load_settings({"TVS_HOME": str(tmp_path_factory.mktemp("home"))})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            selection=dg.AssetSelection.assets(*FUNNEL),
            partition_key=DAY,
            instance=instance,
            resources=build_resources(settings, scale=SCALE),
        )
    assert result.success
    return settings.lake_root, DemoMarket(scale=SCALE)


@pytest.fixture(scope="module")
def stored(lake):
    """FX and futures bars read back from Parquet, each with the UTC open the market served."""
    root, market = lake
    bars = query_lake(str(root), SQL)
    served = market.bars(sorted(set(bars["symbol"])), date(2023, 1, 1), date(2025, 3, 10))
    joined = bars.merge(served[["symbol", "close", "time"]], on=["symbol", "close"], how="left")
    assert len(joined) == len(bars) and joined["time"].notna().all()
    return joined


def test_the_run_stored_fx_and_futures_bars(stored):
    classes = stored["symbol"].str.startswith("FX:").map({True: "forex", False: "futures"})
    assert set(classes) == {"forex", "futures"}
    assert stored.groupby(classes)["symbol"].nunique().min() >= 2
    assert stored["market_date"].max() == pd.Timestamp(DAY)


@pytest.mark.parametrize(("symbol", "opened", "session"), BY_HAND)
def test_market_dates_by_hand(stored, symbol, opened, session):
    row = stored.loc[
        (stored["symbol"] == symbol) & (stored["time"] == pd.Timestamp(opened, tz="UTC"))
    ]
    assert row["market_date"].tolist() == [pd.Timestamp(session)]


def test_every_bar_opens_the_evening_before_its_market_date(stored):
    """Every bar's open lies 21:00-23:00 UTC of the calendar day before its market date (its
    UTC date is never the market date), no market date is a weekend, and a futures bar's
    market date is a CMES session (Globex holidays included)."""
    utc = stored["time"].dt.tz_convert("UTC")
    assert utc.dt.hour.isin([21, 22, 23]).all() and (utc.dt.minute == 0).all()
    next_day = utc.dt.tz_localize(None).dt.normalize() + pd.Timedelta(days=1)
    assert (stored["market_date"] == next_day).all()
    assert not stored["market_date"].dt.day_of_week.isin([5, 6]).any()
    futures = stored.loc[~stored["symbol"].str.startswith("FX:"), "market_date"]
    cme = sessions("CMES", futures.min(), futures.max())
    assert futures.isin(cme).all() and set(cme) == set(futures)


def test_health_and_identity_ran_on_the_fx_and_futures_sleeves(lake):
    """data_health judged each FX pair and future on its own calendar (OK: the demo plants no
    defect on them) and dedup named a continuous future by its root (COMEX:GC1! -> GC)."""
    root, _ = lake
    health = query_lake(
        str(root),
        "select symbol, sleeve, calendar, status, missing_sessions from data_health "
        "where sleeve in ('forex', 'futures')",
    )
    assert set(health["sleeve"]) == {"forex", "futures"}
    calendars = health.groupby("sleeve")["calendar"].unique().map(list).to_dict()
    assert calendars == {"forex": ["24/5"], "futures": ["CMES"]}
    assert (health["status"] == "OK").all() and (health["missing_sessions"] == 0).all()
    dedup = query_lake(str(root), "select symbol, identity from dedup where symbol like '%1!'")
    names = dict(zip(dedup["symbol"], dedup["identity"], strict=True))
    assert names["COMEX:GC1!"] == "GC" and names["CME_MINI:NQ1!"] == "NQ"
    assert all(names[s] == s.split(":")[1].removesuffix("1!") for s in names)
