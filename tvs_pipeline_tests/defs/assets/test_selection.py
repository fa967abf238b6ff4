"""The selection asset and its Dagster metadata (funnel counts, winners), run for real."""

from __future__ import annotations

from typing import get_args

import dagster as dg
import pandas as pd
import pytest
import yaml

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.config.schema import SelectionEngine
from tvs_pipeline.definitions import ASSETS, champion_assets
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.settings import load_settings

DAY = "2025-06-30"
UPSTREAM = [
    "discovery",
    "bars",
    "fetch_failures",  # written by the bars step
    "data_health",
    "normalization",
    "enrichment",
    "dedup",
]


def read_day(settings, asset):
    return LakeReader(settings.lake_root).read(
        asset, where="date = ?", params=[pd.Timestamp(DAY).date()]
    )


def profile_with(tmp_path, engine):
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc.setdefault("selection", {})["champion"] = engine
    path = tmp_path / f"demo_{engine}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_one_candidate_day_has_its_own_metadata(tmp_path):
    """The asset body on a hand-made day: one listing, the baseline engine (which keeps every
    candidate), so the funnel is 1 candidate, 1 selected at stage 1, and A is the one winner."""
    profile = profile_with(tmp_path, "baseline")
    (selection,) = [
        a for a in champion_assets(load_profile(profile)) if dg.AssetKey("selection") in a.keys
    ]
    resources = build_resources(
        load_settings({"TVS_HOME": str(tmp_path / "home")}), profile=profile
    )
    day = pd.Timestamp("2025-04-10")
    panel = pd.DataFrame(
        {
            "symbol": ["A"] * 100,
            "market_date": pd.date_range("2025-01-01", periods=100),
            "ret": [0.01, -0.005] * 50,
            "date": day,
        }
    )
    dedup = pd.DataFrame(
        {
            "symbol": ["A"],
            "direction": ["LONG"],
            "value_traded_usd": [5e7],
            "adx_14": [30.0],
            "date": [day],
        }
    )
    context = dg.build_asset_context(
        partition_key="2025-04-10", resources={k: resources[k] for k in ("profile", "compute")}
    )
    output = selection(context, dedup=dedup, normalization=panel)
    meta = {key: getattr(value, "value", value) for key, value in output.metadata.items()}
    assert meta["engine"] == "baseline" and meta["role"] == "champion"
    assert meta["selected"] == 1 and meta["ladder_stage"] == 1
    rows = {row.data["stage"]: row.data["candidates"] for row in meta["funnel"].records}
    assert (rows["candidates"], rows["selected"], rows["selected_stage_1"]) == (1, 1, 1)
    assert rows["hard_vetoed"] == rows["soft_vetoed"] == 0
    # each count also a number of its own, for the Plots tab
    assert {k: meta[f"funnel_{k}"] for k in rows} == rows and meta["vetoes_fired"] == 0
    winners = meta["winners"].splitlines()
    assert len(winners) == 3 and winners[2].startswith("| A ")  # header, rule, one row
    assert output.value["date"].tolist() == [day]


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
        funnel = {row.data["stage"]: row.data["candidates"] for row in metadata["funnel"].records}
        assert funnel["candidates"] == metadata["funnel_candidates"].value == len(dedup)
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
