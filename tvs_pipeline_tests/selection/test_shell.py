"""The selection asset (tvs_pipeline/defs/assets/selection.py), materialised for real."""

from __future__ import annotations

from datetime import date
from typing import get_args

import dagster as dg
import pandas as pd
import pytest
import yaml

from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.config.schema import SelectionConfig, SelectionEngine
from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.assets.selection import selection_metadata
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.errors import LookAheadError
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.selection import SELECTION_COLUMNS
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.settings import load_settings

DAY = "2025-06-30"
UPSTREAM = ["discovery", "bars", "data_health", "normalization", "enrichment", "dedup"]


def read_day(settings, asset):
    return LakeReader(settings.lake_root).read(
        asset, where="date = ?", params=[pd.Timestamp(DAY).date()]
    )


def profile_with(tmp_path, engine):
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc["selection"]["champion"] = engine
    path = tmp_path / f"demo_{engine}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    settings = load_settings({"TVS_HOME": str(tmp_path_factory.mktemp("home"))})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            selection=UPSTREAM,
            partition_key=DAY,
            instance=instance,
            resources=build_resources(settings),
        )
    assert result.success
    return settings


@pytest.mark.slow
def test_all_four_engines_materialise_the_same_partition(upstream, tmp_path):
    settings, chosen, scores = upstream, {}, {}
    dedup = read_day(settings, "dedup")
    for engine in get_args(SelectionEngine):  # the engines a profile may name
        resources = build_resources(settings, profile=profile_with(tmp_path, engine))
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                ASSETS,
                selection=["selection"],
                partition_key=DAY,
                instance=instance,
                resources=resources,
            )
        assert result.success, engine
        metadata = result.asset_materializations_for_node("selection")[0].metadata
        assert metadata["engine"].value == engine
        funnel = metadata["funnel"].data
        assert funnel["candidates"] == len(dedup)
        assert "| symbol" in metadata["winners"].value
        table = read_day(settings, "selection")
        assert (table["engine"] == engine).all() and len(table) == len(dedup)
        assert int(table["selected"].sum()) == funnel["selected"] == metadata["selected"].value
        chosen[engine] = set(table.loc[table["selected"], "symbol"])
        scores[engine] = table.set_index(["symbol", "direction", "logic"])["score"].sort_index()
    assert chosen["baseline"] == set(dedup["symbol"])
    assert chosen["htr_3_4"] < chosen["baseline"] and len(chosen["htr_3_4"]) >= 15
    assert not scores["htr_3_4"].equals(scores["liquid_htr"])  # ranked differently
    assert not scores["htr_3_4"].equals(scores["cars_2_1"])


def test_select_day_maps_dedup_columns():
    panel = pd.DataFrame(
        {
            "symbol": ["A"] * 100,
            "market_date": pd.date_range("2025-01-01", periods=100),
            "ret": [0.01, -0.005] * 50,
        }
    )
    dedup = pd.DataFrame(
        {"symbol": ["A"], "direction": ["LONG"], "value_traded_usd": [5e7], "adx_14": [30.0]}
    )
    out = select_day(panel, dedup, SelectionConfig(engine="baseline"), date(2025, 4, 10))
    assert out.loc[0, "value_traded"] == 5e7 and out.loc[0, "adx"] == 30.0
    assert out.loc[0, "liquidity"] == 5e7 and bool(out.loc[0, "selected"])
    added = [c for c in SELECTION_COLUMNS if c != "adx"]
    assert list(out.columns)[-len(added) :] == added
    metadata = selection_metadata(out)
    assert metadata["engine"].value == "baseline" and metadata["funnel"].data["selected"] == 1
    with pytest.raises(LookAheadError, match="market_date 2025-04-10 is after as-of date"):
        select_day(panel, dedup, SelectionConfig(), date(2025, 4, 9))
