from pathlib import Path

import pytest
import yaml

from tvs_pipeline.config import PRESETS_ROOT, deep_merge, list_profiles, load_profile, load_scanner
from tvs_pipeline.config.loader import resolved_to_yaml
from tvs_pipeline.errors import ConfigError


def write(root: Path, rel: str, doc: dict) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def presets(tmp_path: Path) -> Path:
    write(tmp_path, "universes/u.yaml", {"market": "america", "exchanges": ["NYSE", "NASDAQ"]})
    write(tmp_path, "hygiene/h.yaml", {"filters": [{"column": "close", "op": ">=", "value": 5}]})
    write(
        tmp_path,
        "templates/t.yaml",
        {"asset_class": "equity", "calendar": "XNYS", "sessions_per_year": 252},
    )
    write(tmp_path, "strategies/s.yaml", {"logic": "trend", "direction": "LONG"})
    write(
        tmp_path,
        "scanners/sc.yaml",
        {"sleeve": "eq", "universe": "u", "hygiene": "h", "template": "t", "strategy": "s"},
    )
    write(tmp_path, "profiles/p.yaml", {"scanners": ["sc"]})
    return tmp_path


def test_deep_merge_rules():
    parent = {"a": {"x": 1, "y": 2}, "l": [1, 2], "s": "p"}
    child = {"a": {"y": 3}, "l": [9], "s": "c"}
    assert deep_merge(parent, child) == {"a": {"x": 1, "y": 3}, "l": [9], "s": "c"}
    assert deep_merge(parent, {"l": {"extend": [3]}})["l"] == [1, 2, 3]
    assert parent == {"a": {"x": 1, "y": 2}, "l": [1, 2], "s": "p"}


def test_extend_needs_a_list():
    with pytest.raises(ConfigError, match="'extend' needs a list"):
        deep_merge({"l": [1]}, {"l": {"extend": 3}})


def test_shipped_demo_profile_resolves():
    profile = load_profile("demo")
    assert profile.name == "demo"
    assert {s.sleeve for s in profile.scanners} == {
        "us_equity",
        "crypto",
        "etf",
        "forex",
        "futures",
    }
    futures = next(s for s in profile.scanners if s.name == "futures_trend_short")
    assert (futures.universe.market, futures.template.asset_class) == ("futures", "futures")
    assert futures.strategy.direction == "SHORT" and "CME_MINI:ES1!" in futures.universe.symbols
    short = next(s for s in profile.scanners if s.name == "crypto_top50_trend_short")
    assert short.strategy.direction == "SHORT"
    assert short.universe.market == "crypto"
    assert profile.run.lookback_days == 500 and profile.run.history_floor == 90
    assert "demo" in list_profiles()
    assert "crypto_top50_trend_short" in resolved_to_yaml(profile)


def test_layered_scanner_with_inline_override(presets: Path):
    write(
        presets,
        "scanners/sc2.yaml",
        {"base": "sc", "universe": {"base": "u", "exchanges": {"extend": ["AMEX"]}, "limit": 7}},
    )
    scanner = load_scanner("sc2", presets)
    assert scanner.universe.exchanges == ["NYSE", "NASDAQ", "AMEX"]
    assert scanner.universe.limit == 7
    assert scanner.filters[0].column == "close"


def test_unknown_key_is_named_with_a_hint(presets: Path):
    write(presets, "profiles/bad.yaml", {"scanners": ["sc"], "run": {"lookbak_days": 100}})
    with pytest.raises(
        ConfigError, match=r"run\.lookbak_days: unknown key \(did you mean 'lookback_days'\?\)"
    ):
        load_profile("bad", presets)


def test_unknown_key_in_a_layer(presets: Path):
    write(presets, "universes/u.yaml", {"market": "america", "exchangez": ["NYSE"]})
    with pytest.raises(ConfigError, match=r"u\.yaml: exchangez: unknown key"):
        load_scanner("sc", presets)


def test_missing_referenced_file_is_named(presets: Path):
    write(
        presets,
        "scanners/sc.yaml",
        {"sleeve": "eq", "universe": "nope", "hygiene": "h", "template": "t", "strategy": "s"},
    )
    with pytest.raises(ConfigError, match=r"universes/nope.yaml: file not found"):
        load_scanner("sc", presets)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="profile 'nosuch': unknown profile"):
        load_profile("nosuch")


def test_base_cycle_is_an_error(presets: Path):
    write(presets, "hygiene/a.yaml", {"base": "b"})
    write(presets, "hygiene/b.yaml", {"base": "a"})
    write(
        presets,
        "scanners/sc.yaml",
        {"sleeve": "eq", "universe": "u", "hygiene": "a", "template": "t", "strategy": "s"},
    )
    with pytest.raises(ConfigError, match="'base' cycle"):
        load_scanner("sc", presets)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"column": "close", "op": "between", "value": 5}, "needs \\[low, high\\]"),
        ({"column": "close", "op": "in", "value": 5}, "needs a list"),
        ({"column": "close", "op": ">", "value": [1, 2]}, "needs one value"),
        ({"column": "close", "op": "~", "value": 1}, "op"),
        ({"column": "name", "op": "match", "value": "([unclosed"}, r"'match' '\(\[unclosed'"),
    ],
    ids=["between-scalar", "in-scalar", "gt-list", "bad-op", "bad-regex"],
)
def test_bad_filter_rules(presets: Path, rule: dict, message: str):
    write(presets, "hygiene/h.yaml", {"filters": [rule]})
    with pytest.raises(ConfigError, match=message):
        load_scanner("sc", presets)


def test_invalid_yaml_is_named(presets: Path):
    (presets / "hygiene/h.yaml").write_text("filters: [unclosed\n")
    with pytest.raises(ConfigError, match=r"h\.yaml: invalid YAML"):
        load_scanner("sc", presets)


def test_a_file_that_is_not_utf8_is_named(presets: Path):
    (presets / "hygiene/h.yaml").write_bytes(b"description: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"h\.yaml: not UTF-8 text \(byte 16\)"):
        load_scanner("sc", presets)


@pytest.mark.parametrize("number", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_a_number_that_is_not_finite_is_named(presets: Path, number: float):
    profile = {"scanners": ["sc"], "simulation": {"initial_capital": number}}
    write(presets, "profiles/p.yaml", profile)
    with pytest.raises(ConfigError, match=r"simulation\.initial_capital: .*finite"):
        load_profile("p", presets)


def test_a_profile_file_names_its_scanner_files_relative_to_itself(presets: Path, tmp_path):
    """A profile kept outside the presets lists a scanner file beside it; bare names stay
    the presets' own."""
    own = tmp_path / "mine"
    write(own, "odd_scanner.yaml", {"sleeve": "odd", "universe": "u", "hygiene": "h",
                                     "template": "t", "strategy": "s"})  # fmt: skip
    write(own, "p.yaml", {"scanners": ["odd_scanner.yaml", "sc"]})
    profile = load_profile(str(own / "p.yaml"), presets)
    assert [s.name for s in profile.scanners] == ["odd_scanner", "sc"]
    assert [s.sleeve for s in profile.scanners] == ["odd", "eq"]


def test_a_borrow_rate_for_a_sleeve_no_scanner_has_is_named(presets: Path):
    rates = {"borrow_bps_per_year": {"default": 50.0, "eqq": 5.0}}
    write(presets, "profiles/p.yaml", {"scanners": ["sc"], "simulation": rates})
    with pytest.raises(
        ConfigError,
        match=r"borrow_bps_per_year\.eqq: no scanner has this sleeve \(did you mean 'eq'\?\)",
    ):
        load_profile("p", presets)


def test_a_freshness_limit_for_an_unknown_asset_class_is_named(presets: Path):
    write(presets, "profiles/p.yaml", {"scanners": ["sc"],
                                       "health": {"freshness_days": {"martian": 3}}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"health\.freshness_days.*martian"):
        load_profile("p", presets)


def test_floor_must_fit_in_lookback(presets: Path):
    write(
        presets,
        "profiles/p.yaml",
        {"scanners": ["sc"], "run": {"lookback_days": 60, "history_floor": 90}},
    )
    with pytest.raises(ConfigError, match="history_floor 90 exceeds lookback_days 60"):
        load_profile("p", presets)


def test_every_shipped_file_is_used_or_loadable():
    for scanner in (PRESETS_ROOT / "scanners").glob("*.yaml"):
        assert load_scanner(scanner.stem).name == scanner.stem
