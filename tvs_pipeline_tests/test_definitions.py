"""The one Definitions object (tvs_pipeline/definitions.py): both paths, resources, profile."""

from __future__ import annotations

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
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {*CHAMPION, *CHALLENGER}
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
