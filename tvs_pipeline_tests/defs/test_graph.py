"""The Dagster shell, materialised for real on a temporary instance and lake."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from tvs_pipeline.config import load_profile
from tvs_pipeline.definitions import ASSETS, build_definitions, challenger_assets
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.lake.catalog import LakeReader, query_lake
from tvs_pipeline.settings import load_settings

DAY = "2025-06-30"
EXPECTED_GROUPS = {
    "discovery": "discovery",
    "bars": "normalization",
    "fetch_failures": "normalization",
    "data_health": "normalization",
    "normalization": "normalization",
    "enrichment": "enrichment",
    "dedup": "dedup",
    "selection": "selection",
    "synthesis": "synthesis",
    "market": "allocation",
    "allocation": "allocation",
    "simulation": "simulation",
    "performance_report": "simulation",
}
CHALLENGER_GROUPS = {
    "selection_challenger": "selection",
    "synthesis_challenger": "synthesis",
    "allocation_challenger": "allocation",
    "simulation_challenger": "simulation",
    "selection_parity": "selection",
    "promotion_report": "simulation",
}
# On demand, not in either nightly path.
RESEARCH_GROUPS = {
    "tournament": "research",
    "tournament_returns": "research",
    "tournament_regimes": "research",
    "tournament_books": "research",
}
# Assets that hold no row on the demo market: it never fails a fetch.
EMPTY_ON_DEMO = {"fetch_failures"}
PACKAGE = Path(__file__).resolve().parents[2] / "tvs_pipeline"
CHAMPION_TAG = {"tvs/role": "champion"}
CHALLENGER_TAG = {"tvs/role": "challenger"}
# asset -> (kinds beyond pandas and parquet, tags beyond the kinds, checks)
DECLARED = {
    "discovery": ((), {}, {"discovery_not_empty"}),
    "bars": ((), {}, set()),
    "fetch_failures": ((), {}, set()),
    "data_health": ((), {}, {"ok_share_floor"}),
    "normalization": ((), {}, {"panel_gap_free"}),
    "enrichment": ((), {}, set()),
    "dedup": ((), {}, set()),
    "selection": ((), CHAMPION_TAG, set()),
    "synthesis": ((), CHAMPION_TAG, set()),
    "market": ((), {}, set()),
    "allocation": (("skfolio",), CHAMPION_TAG, {"exposure_on_target"}),
    "simulation": ((), CHAMPION_TAG, set()),
    "performance_report": (("markdown",), {}, {"latest_partition_fresh"}),
    "selection_challenger": ((), CHALLENGER_TAG, set()),
    "synthesis_challenger": ((), CHALLENGER_TAG, set()),
    "allocation_challenger": (("skfolio",), CHALLENGER_TAG, {"exposure_on_target"}),
    "simulation_challenger": ((), CHALLENGER_TAG, set()),
    "selection_parity": ((), {}, {"parity_within_thresholds"}),
    "promotion_report": ((), {}, set()),
    "tournament": ((), {}, set()),
    "tournament_returns": ((), {}, set()),
    "tournament_regimes": ((), {}, set()),
    "tournament_books": ((), {}, set()),
}
BLOCKING = {"discovery_not_empty", "ok_share_floor", "panel_gap_free"}
# The shadow path of the profile ASSETS (the champion path) was built from.
CHALLENGER = challenger_assets(load_profile(load_settings().profile))


def run(settings, partition_key=None, tags=None, **options):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            partition_key=partition_key,
            instance=instance,
            resources=build_resources(settings, **options),
            tags=tags,
            raise_on_error=False,
        )
    return result


def run_shadow(settings, partition_key, **options):
    """The challenger path of one day, as the shadow job runs it after the nightly one: its
    upstream partitions (dedup, normalization, the champion's selection, allocation and
    simulation) are read back from the lake the champion run wrote."""
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*ASSETS, *CHALLENGER],
            selection=dg.AssetSelection.assets(*CHALLENGER),
            partition_key=partition_key,
            instance=instance,
            resources=build_resources(settings, **options),
            raise_on_error=False,
        )


def every_asset():
    """Every asset key of both nightly paths (pinned by the test below; not the research ones)."""
    defs = build_definitions(load_settings({"TVS_HOME": "/tmp/unused"}))
    keys = (key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys())
    return sorted(key for key in keys if key not in RESEARCH_GROUPS)


def read_day(settings, asset, day=DAY):
    return LakeReader(settings.lake_root).read(
        asset, where="date = ?", params=[pd.Timestamp(day).date()]
    )


def test_asset_keys_and_groups_are_pinned():
    defs = build_definitions(load_settings({"TVS_HOME": "/tmp/unused"}))
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {**EXPECTED_GROUPS, **CHALLENGER_GROUPS, **RESEARCH_GROUPS}
    selected = {
        name: {
            key.to_user_string()
            for key in defs.resolve_job_def(name).asset_layer.selected_asset_keys
        }
        for name in ("nightly", "shadow")
    }
    assert selected == {"nightly": set(EXPECTED_GROUPS), "shadow": set(CHALLENGER_GROUPS)}
    tournament_keys = defs.resolve_job_def("tournament").asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in tournament_keys} == set(RESEARCH_GROUPS)
    # dagster.yaml runs one champion run at a time by tag (a backfill's chunks have a limit of
    # their own): the nightly job must carry the champion tag.
    instance_yaml = yaml.safe_load((PACKAGE.parent / "dagster.yaml").read_text())
    limits = instance_yaml["concurrency"]["runs"]["tag_concurrency_limits"]
    (limit,) = [lim for lim in limits if lim["value"] == "champion"]
    assert limit["limit"] == 1
    assert defs.resolve_job_def("nightly").tags[limit["key"]] == "champion"
    code = {
        key.to_user_string(): graph.get(key).code_version
        for key in graph.get_all_asset_keys()
        if key.to_user_string() in ("selection", "selection_challenger")
    }
    assert code == {"selection": "htr_3_4", "selection_challenger": "v4"}
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_every_asset_declares_its_kinds_tags_checks_and_single_run_policy():
    graph = build_definitions(load_settings({"TVS_HOME": "/tmp/unused"})).resolve_asset_graph()
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


def test_only_the_shell_imports_dagster():
    allowed = {PACKAGE / "definitions.py", PACKAGE / "lake" / "io_manager.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path in allowed or (PACKAGE / "defs") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(
                n == "dagster" or n.startswith("dagster.") or n.startswith("dagster_")
                for n in names
            ):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


@pytest.fixture(scope="module")
def materialised(tmp_path_factory):
    settings = load_settings({"TVS_HOME": str(tmp_path_factory.mktemp("home"))})
    result = run(settings, partition_key=DAY)
    shadow = run_shadow(settings, DAY)
    return settings, result, shadow


@pytest.mark.slow
def test_whole_graph_materialises_and_reads_back_through_duckdb(materialised):
    settings, result, shadow = materialised
    assert result.success and shadow.success
    for asset in {**EXPECTED_GROUPS, **CHALLENGER_GROUPS}:
        path = Path(settings.lake_root) / asset / f"date={DAY}" / "part.parquet"
        assert path.exists(), asset
        count = query_lake(
            settings.lake_root, f"select count(*) as n from {asset} where date = '{DAY}'"
        )
        assert (count.loc[0, "n"] > 0) != (asset in EMPTY_ON_DEMO), asset
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "discovery_not_empty": True,
        "ok_share_floor": True,
        "panel_gap_free": True,
        "exposure_on_target": True,
    }
    weights = read_day(settings, "allocation")
    physical = weights.loc[weights["kind"] == "physical"]
    assert abs(weights.loc[weights["kind"] == "atom", "weight"].sum() - 1.0) < 1e-9
    assert len(physical) > 0
    assert Path(read_day(settings, "performance_report")["report_path"].iloc[0]).exists()


@pytest.mark.slow
def test_no_look_ahead_perturbing_after_d_leaves_partition_d_unchanged(materialised, tmp_path):
    """Both paths, every asset: day D rebuilt on a market whose bars after D are replaced
    (``shock_after=D``) is frame-equal to day D on the untouched market. The champion path
    runs first, then the challenger path reading it, in each of the two homes."""
    settings, _, _ = materialised
    shocked = load_settings({"TVS_HOME": str(tmp_path / "shocked")})
    assert run(shocked, partition_key=DAY, shock_after=DAY).success
    assert run_shadow(shocked, DAY, shock_after=DAY).success
    assets = every_asset()
    assert set(assets) == {**EXPECTED_GROUPS, **CHALLENGER_GROUPS}.keys()
    for asset in assets:
        original = read_day(settings, asset)
        perturbed = read_day(shocked, asset)
        assert (len(original) > 0) != (asset in EMPTY_ON_DEMO), asset
        if "report_path" in original:  # a path under each home's reports folder
            original, perturbed = (
                original.drop(columns="report_path"),
                perturbed.drop(columns="report_path"),
            )
        pd.testing.assert_frame_equal(original, perturbed, obj=asset)


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the partitions ``first..last`` (a single-run backfill)."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@pytest.mark.slow
def test_the_shock_does_change_later_partitions(materialised, tmp_path):
    """The look-ahead test has teeth: the same shock moves every asset of both paths on a later
    day, so the equality on day D is not equality by default. Two days run, so that the track
    record of the later day earns a book decided the day before."""
    first, later = "2025-07-09", "2025-07-10"
    base = load_settings({"TVS_HOME": str(tmp_path / "a")})
    shocked = load_settings({"TVS_HOME": str(tmp_path / "b")})
    assert run(base, tags=range_tags(first, later)).success
    assert run(shocked, tags=range_tags(first, later), shock_after=DAY).success
    for day in (first, later):
        assert run_shadow(base, day).success
        assert run_shadow(shocked, day, shock_after=DAY).success
    a, b = read_day(base, "bars", later), read_day(shocked, "bars", later)
    assert not a["close"].equals(b["close"])
    unchanged = []
    for asset in every_asset():
        before, after = read_day(base, asset, later), read_day(shocked, asset, later)
        if "report_path" in before:
            before, after = before.drop(columns="report_path"), after.drop(columns="report_path")
        if before.equals(after):
            unchanged.append(asset)
    assert set(unchanged) == EMPTY_ON_DEMO


def test_definitions_validate_on_the_workspace():
    root = PACKAGE.parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-w",
            str(root / "workspace.yaml"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_single_run_backfill_equals_the_nightly_runs(tmp_path):
    """One run over three days, its days spread over two worker processes, equals the same
    days run as they come: a run over the first two, then the nightly run of the third, which
    carries the book and the track record it finds in the lake."""
    nightly = load_settings({"TVS_HOME": str(tmp_path / "nightly")})
    assert run(nightly, tags=range_tags("2025-06-28", "2025-06-29")).success
    assert run(nightly, partition_key=DAY).success
    filled = replace(load_settings({"TVS_HOME": str(tmp_path / "filled")}), workers=2)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            instance=instance,
            resources=build_resources(filled, min_parallel_calls=2),
            tags=range_tags("2025-06-28", DAY),
        )
        assert result.success
        assert len(instance.get_runs()) == 1
    for asset in EXPECTED_GROUPS:
        for day in ("2025-06-29", DAY):
            expected, backfilled = read_day(nightly, asset, day), read_day(filled, asset, day)
            if "report_path" in expected:
                expected, backfilled = (
                    expected.drop(columns="report_path"),
                    backfilled.drop(columns="report_path"),
                )
            pd.testing.assert_frame_equal(expected, backfilled, obj=f"{asset} {day}")
    # The track record of D earned the book stored for D−1 (not a fresh one): recomputed from
    # the lake by hand, net = Σ w·r − 6 bps × Σ|w − h| − borrow on the shorts for one day.
    ledger = read_day(filled, "simulation")
    assert ledger["decided_on"].iloc[0] == pd.Timestamp("2025-06-29")
    book = read_day(filled, "allocation", "2025-06-29")
    physical = book.loc[book["kind"] == "physical"].set_index("symbol")
    assert physical["net_weight"].abs().sum() > 0.5
    panel = read_day(filled, "normalization")
    today = panel.loc[panel["market_date"] == pd.Timestamp(DAY)].set_index("symbol")["ret"]
    w = physical["net_weight"]
    gross = float((w * today.reindex(w.index).fillna(0.0)).sum())
    turnover = float((w - physical["held_weight"]).abs().sum())
    rates = physical["sleeve"].map({"crypto": 1000.0}).fillna(50.0)
    days = (pd.Timestamp(DAY) - pd.Timestamp(book["last_session"].iloc[0])).days
    borrow = float((-w.clip(upper=0) * rates).sum()) / 1e4 * days / 365
    assert ledger["net"].iloc[0] == pytest.approx(gross - 6e-4 * turnover - borrow, abs=1e-12)
