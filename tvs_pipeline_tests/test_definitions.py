"""The one Definitions object (tvs_pipeline/definitions.py): both paths, resources, profile."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import yaml

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.definitions import ASSETS, build_definitions, challenger_assets, champion_assets
from tvs_pipeline.settings import load_settings

CHAMPION = [
    "discovery",
    "bars",
    "fetch_failures",
    "data_health",
    "normalization",
    "enrichment",
    "dedup",
    "selection",
    "synthesis",
    "market",
    "allocation",
    "simulation",
    "performance_report",
]
CHALLENGER = [
    "selection_challenger",
    "synthesis_challenger",
    "allocation_challenger",
    "simulation_challenger",
    "selection_parity",
    "promotion_report",
]


def keys(assets):
    return {key.to_user_string() for a in assets for key in a.keys}


def test_the_two_paths_split_the_graph():
    profile = load_profile("demo")
    champion, challenger = keys(champion_assets(profile)), keys(challenger_assets(profile))
    assert champion == set(CHAMPION) and challenger == set(CHALLENGER)
    assert keys(ASSETS) == set(CHAMPION)  # the default profile's champion path


def test_definitions_are_rooted_at_the_settings(tmp_path):
    settings = load_settings({"TVS_HOME": str(tmp_path / "home")})
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    research = {"tournament", "tournament_returns", "tournament_regimes", "tournament_books"}
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        *CHAMPION,
        *CHALLENGER,
        *research,
    }
    lake = defs.resources["lake"]
    assert lake.root == str((tmp_path / "home" / "lake").resolve())


def test_the_profile_option_picks_the_engines(tmp_path):
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc.setdefault("selection", {})["champion"] = "baseline"
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump(doc))
    defs = build_definitions(load_settings({"TVS_HOME": str(tmp_path)}), profile=str(path))
    graph = defs.resolve_asset_graph()
    versions = {
        key.to_user_string(): graph.get(key).code_version
        for key in graph.get_all_asset_keys()
        if key.to_user_string() in ("selection", "selection_challenger")
    }
    assert versions == {"selection": "baseline", "selection_challenger": "v4"}


HEAVY = ("scipy", "sklearn", "skfolio", "matplotlib", "exchange_calendars", "duckdb")


def graph_of(**options):
    defs = build_definitions(load_settings({"TVS_HOME": "/tmp/unused"}), **options)
    return defs.resolve_asset_graph()


def window(graph, asset, upstream="bars"):
    mapping = graph.get_partition_mapping(dg.AssetKey(asset), dg.AssetKey(upstream))
    return mapping.start_offset, mapping.end_offset


def test_the_bars_windows_are_the_profiles_lookback_and_bars_reads_its_own_past(tmp_path):
    graph = graph_of()  # demo: 500 days
    for asset in ("data_health", "normalization", "enrichment"):
        assert window(graph, asset) == (-499, 0), asset
    # bars plans day D on the bars stored before D: a window ending the day before
    assert dg.AssetKey("bars") in graph.get(dg.AssetKey("bars")).parent_keys
    assert window(graph, "bars") == window(graph, "fetch_failures") == (-499, -1)
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc["run"] = {**doc.get("run", {}), "lookback_days": 250}
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump(doc))
    graph = graph_of(profile=str(short))
    assert window(graph, "normalization") == (-249, 0)
    assert window(graph, "bars") == (-249, -1)


def test_data_health_loads_the_fetch_failures_from_the_lake():
    graph = graph_of()
    node = graph.get(dg.AssetKey("data_health"))
    assert dg.AssetKey("fetch_failures") in node.assets_def.keys_by_input_name.values()


def test_loading_the_definitions_reads_the_profile_once_and_no_heavy_library():
    script = (
        "import sys, tvs_pipeline.definitions\n"
        "from tvs_pipeline.defs.resources import resolved_profile\n"
        "print(resolved_profile.cache_info().misses)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    misses, heavy = done.stdout.splitlines()
    assert misses == "1"
    assert heavy == ""
