"""The definitions: what each asset declares, built per profile, loaded without heavy imports."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import yaml

from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.settings import load_settings

ROLE = {"tvs/role": "champion"}
CHALLENGER = {"tvs/role": "challenger"}
# asset -> (kinds beyond pandas and parquet, tags beyond the kinds, checks)
DECLARED = {
    "discovery": ((), {}, {"discovery_not_empty"}),
    "bars": ((), {}, set()),
    "fetch_failures": ((), {}, set()),
    "data_health": ((), {}, {"ok_share_floor"}),
    "normalization": ((), {}, {"panel_gap_free"}),
    "enrichment": ((), {}, set()),
    "dedup": ((), {}, set()),
    "selection": ((), ROLE, set()),
    "synthesis": ((), ROLE, set()),
    "allocation": (("skfolio",), ROLE, set()),
    "simulation": ((), ROLE, set()),
    "performance_report": (("markdown",), {}, {"latest_partition_fresh"}),
    "selection_challenger": ((), CHALLENGER, set()),
    "synthesis_challenger": ((), CHALLENGER, set()),
    "allocation_challenger": (("skfolio",), CHALLENGER, set()),
    "simulation_challenger": ((), CHALLENGER, set()),
    "selection_parity": ((), {}, {"parity_within_thresholds"}),
    "promotion_report": ((), {}, set()),
}
BLOCKING = {"discovery_not_empty", "ok_share_floor", "panel_gap_free"}
HEAVY = ("scipy", "sklearn", "skfolio", "matplotlib", "exchange_calendars", "duckdb")


def graph_of(**options):
    defs = build_definitions(load_settings({"TVS_HOME": "/tmp/unused"}), **options)
    return defs.resolve_asset_graph()


def window(graph, asset, upstream="bars"):
    mapping = graph.get_partition_mapping(dg.AssetKey(asset), dg.AssetKey(upstream))
    return mapping.start_offset, mapping.end_offset


def test_every_asset_declares_its_kinds_tags_checks_and_single_run_policy():
    graph = graph_of()
    checks = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    blocking = {key.name for key in graph.asset_check_keys if graph.get_check_spec(key).blocking}
    for name, (kinds, tags, named) in DECLARED.items():
        node = graph.get(dg.AssetKey(name))
        spec = next(s for s in node.assets_def.specs if s.key == node.key)
        assert spec.kinds == {"pandas", "parquet", *kinds}, name
        kind_tags = {f"dagster/kind/{kind}": "" for kind in spec.kinds}
        assert dict(spec.tags) == {**kind_tags, **tags}, name
        assert checks.get(name, set()) == named, name
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), name
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(DECLARED)
    assert blocking == BLOCKING


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
