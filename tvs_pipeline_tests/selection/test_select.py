import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection import (
    ENGINES,
    FEATURE_COLUMNS,
    PROBABILITY_COLUMNS,
    SELECTION_COLUMNS,
    SelectionParams,
    select,
)


@pytest.fixture
def candidates(panel):
    """Factor and noise listings face the way their window went, so clusters have rivals."""
    rising = panel.sum() >= 0
    symbols = [*panel.columns, "UP0"]  # UP0 also on a short list: against its window
    direction = ["SHORT" if s.startswith("DN") or not rising[s] else "LONG" for s in panel]
    return pd.DataFrame(
        {
            "symbol": symbols,
            "direction": [*direction, "SHORT"],
            "sleeve": "s",
            "logic": "trend",
            "value_traded": np.geomspace(1e6, 1e9, len(symbols)),
        }
    )


@pytest.mark.parametrize("engine", list(ENGINES))
def test_one_row_per_candidate_in_order_with_every_column(panel, candidates, engine):
    ghost = pd.DataFrame({"symbol": ["GHOST"], "direction": ["LONG"], "sleeve": "s"})
    given = pd.concat([candidates, ghost], ignore_index=True).set_index(
        pd.Index(range(50, 50 + len(candidates) + 1))
    )
    before_panel, before = panel.copy(), given.copy()
    out = select(panel, given, engine)
    pd.testing.assert_frame_equal(panel, before_panel)
    pd.testing.assert_frame_equal(given, before)
    assert list(out.index) == list(range(len(given)))
    assert list(out.columns) == [*given.columns, *SELECTION_COLUMNS]
    assert out["symbol"].tolist() == given["symbol"].tolist()
    assert (out["engine"] == engine).all()
    ghost_row = out.iloc[-1]
    assert not ghost_row["selected"] and ghost_row["reason"] == "missing data: no returns"
    assert ghost_row["vetoes"] == ["missing_data"] and ghost_row["cluster"] == -1
    assert out["selected"].dtype == bool and out["stage"].dtype == np.int64
    assert (out.loc[out["selected"], "stage"] >= 1).all()
    assert (out.loc[~out["selected"], "stage"] == 0).all()


def test_nans_inside_the_window_do_not_propagate(panel, candidates):
    holed = panel.copy()
    holed.iloc[[10, 11, 250], :5] = np.nan
    out = select(holed, candidates, "htr_3_4")
    numeric = [c for c in (*FEATURE_COLUMNS, *PROBABILITY_COLUMNS) if c not in ("adx", "survival")]
    assert out.loc[out["symbol"] != "YOUNG", numeric].notna().all(axis=None)
    assert out["score"].notna().all()


def test_absent_optional_columns_are_neutral(panel, candidates):
    out = select(panel, candidates[["symbol", "direction"]], "htr_3_4")
    assert (out["p_adx"] == 0.5).all() and (out["p_liquidity"] == 0.5).all()
    assert "adx" in out.columns and out["adx"].isna().all()
    given = select(panel, candidates.assign(adx=30.0), "htr_3_4")
    assert list(given.columns).count("adx") == 1  # the candidates' own column is kept


def test_a_short_list_holds_the_most_bearish_names():
    rng = np.random.default_rng(4)
    index = pd.date_range("2025-01-01", periods=300, freq="D")
    factor = rng.standard_normal(300) * 0.01
    drifts = {"MILD": -0.001, "DEEP": -0.004, "FLAT": 0.0, "UP": 0.002}
    panel = pd.DataFrame(
        {k: d + factor + rng.standard_normal(300) * 0.002 for k, d in drifts.items()},
        index=index,
    )
    candidates = pd.DataFrame({"symbol": list(drifts), "direction": "SHORT"})
    lenient = {"hurst_low": 0.5, "hurst_high": 0.5, "entropy_max": 1.0}  # ranking, not vetoes
    params = SelectionParams.build({"top_n": 1, "min_pool": 0, "vetoes": lenient})
    out = select(panel, candidates, "htr_3_4", params)
    out = out.set_index("symbol")
    assert out["cluster"].nunique() == 1  # one factor: the ranking decides
    assert out.index[out["selected"]].tolist() == ["DEEP"]
    assert out.loc["DEEP", "momentum"] > out.loc["MILD", "momentum"] > 0
    assert out.loc["DEEP", "rank"] == 1 and out.loc["UP", "rank"] == 4
    assert "low_efficiency" in out.loc["UP", "vetoes"]  # rising: against a short


def test_all_four_engines_share_one_frame(panel, candidates):
    outs = {engine: select(panel, candidates, engine) for engine in ENGINES}
    shared = [
        "cluster",
        "vetoes",
        "hard_veto",
        "veto_detail",
        *FEATURE_COLUMNS,
        *PROBABILITY_COLUMNS,
    ]
    for engine, out in outs.items():
        pd.testing.assert_frame_equal(out[shared], outs["htr_3_4"][shared], obj=engine)
    assert outs["baseline"]["selected"].all()
    assert outs["htr_3_4"]["selected"].sum() < len(candidates)


CHANGES = [
    ("top_n", 1, "htr_3_4", {"min_pool": 0}),
    ("min_pool", 40, "htr_3_4", {}),
    ("features.entropy_order", 4, "htr_3_4", {}),
    ("features.entropy_delay", 2, "htr_3_4", {}),
    ("features.efficiency_window", 100, "htr_3_4", {}),
    ("features.hurst_min_lag", 8, "htr_3_4", {}),
    ("features.hurst_max_lag", 32, "htr_3_4", {}),
    ("features.stress_windows", 1, "htr_3_4", {}),
    ("features.stress_length", 5, "htr_3_4", {}),
    ("vetoes.entropy_max", 0.99, "htr_3_4", {}),
    ("vetoes.efficiency_min", 0.2, "htr_3_4", {}),
    ("vetoes.hurst_low", 0.4, "htr_3_4", {}),
    ("vetoes.hurst_high", 0.6, "htr_3_4", {}),
    ("vetoes.toxic_hurst", 0.5, "htr_3_4", {}),
    ("vetoes.survival_min", 1.0, "htr_3_4", {}),
    ("vetoes.min_obs", 150, "htr_3_4", {}),
    ("vetoes.entropy_hard_stop", 0.98, "htr_3_4", {"min_pool": 40}),
    ("clustering.lookbacks", [30], "htr_3_4", {}),
    ("clustering.shrinkage", 0.6, "htr_3_4", {}),
    ("clustering.threshold", 2.0, "htr_3_4", {}),
    ("clustering.max_clusters", 3, "htr_3_4", {}),
    ("weights", {"momentum": 5.0}, "htr_3_4", {}),
    ("cars_weights", {"momentum": 1.0}, "cars_2_1", {}),
    ("fragility_penalty", 0.0, "htr_3_4", {}),
    ("v4.max_stage", 1, "v4", {}),
    ("v4.linkage", "single", "v4", {"clustering": {"threshold": 1.0}}),
]


def _nested(path: str, value) -> dict:
    """``"vetoes.min_obs", 80`` -> ``{"vetoes": {"min_obs": 80}}``."""
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _leaf_paths(model, prefix: str = "") -> set[str]:
    """Every parameter by dotted path; a weights block counts as one parameter."""
    paths = set()
    for name, field in model.model_fields.items():
        nested = field.annotation
        if hasattr(nested, "model_fields") and not name.endswith("weights"):
            paths |= _leaf_paths(nested, f"{prefix}{name}.")
        else:
            paths.add(prefix + name)
    return paths


# The parameters of the mean-reversion and rating logics, exercised on candidates of that logic.
LOGIC_CHANGES = [
    ("features.deviation_window", 5, "mean_reversion", "htr_3_4"),
    ("features.rating_horizon", 3, "rating", "htr_3_4"),
    ("vetoes.reversion_hurst_max", 0.9, "mean_reversion", "htr_3_4"),
    ("vetoes.autocorr_max", 0.9, "mean_reversion", "htr_3_4"),
    ("vetoes.half_life_max", 2000.0, "mean_reversion", "htr_3_4"),
    ("vetoes.rating_ic_min", -0.9, "rating", "htr_3_4"),
    ("mean_reversion.weights", {"reversion": 5.0}, "mean_reversion", "htr_3_4"),
    ("mean_reversion.cars_weights", {"reversion": 1.0}, "mean_reversion", "cars_2_1"),
    ("rating.weights", {"rating_ic": 5.0}, "rating", "htr_3_4"),
    ("rating.cars_weights", {"rating_ic": 1.0}, "rating", "cars_2_1"),
    ("mean_reversion.min_pool", 40, "mean_reversion", "htr_3_4"),
    ("rating.min_pool", 40, "rating", "htr_3_4"),
]


def test_every_parameter_is_exercised():
    names = {name for name, *_ in CHANGES} | {name for name, *_ in LOGIC_CHANGES}
    assert names == _leaf_paths(SelectionParams)


@pytest.mark.parametrize(
    ("name", "value", "logic", "engine"), LOGIC_CHANGES, ids=[c[0] for c in LOGIC_CHANGES]
)
def test_each_logic_parameter_changes_its_logic_output(
    panel, candidates, name, value, logic, engine
):
    mine = candidates.assign(logic=logic)
    default = select(panel, mine, engine)
    changed = select(panel, mine, engine, SelectionParams.build(_nested(name, value)))
    assert not default.equals(changed)


@pytest.mark.parametrize(("name", "value", "engine", "base"), CHANGES, ids=[c[0] for c in CHANGES])
def test_each_parameter_changes_the_output(panel, candidates, name, value, engine, base):
    default = select(panel, candidates, engine, SelectionParams.build(base))
    changed = select(panel, candidates, engine, SelectionParams.build(base | _nested(name, value)))
    assert not default.equals(changed)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p, c: select(p, c, "nope"), ConfigError, "selection engine 'nope': unknown"),
        (lambda p, c: select(p, c, "htr_3_4", SelectionParams.build({"top_k": 3})), ConfigError,
         r"top_k: unknown key \(did you mean 'top_n'\?\)"),
        (lambda p, c: SelectionParams.build({"top_n": 0}), ConfigError,
         "top_n: Input should be greater than or equal to 1"),
        (lambda p, c: SelectionParams.build({"min_pool": -1}), ConfigError, "min_pool"),
        (lambda p, c: SelectionParams.build({"features": {"efficiency_window": 1}}), ConfigError,
         "features.efficiency_window"),
        (lambda p, c: SelectionParams.build({"features": {"stress_length": 1}}), ConfigError,
         "features.stress_length"),
        (lambda p, c: SelectionParams.build({"weights": {"alpha": 1}}), ConfigError,
         "weights.alpha: unknown key"),
        (lambda p, c: SelectionParams.build({"features": {"entropy_order": 9}}), ConfigError,
         "features.entropy_order"),
        (lambda p, c: SelectionParams.build({"vetoes": {"hurst_low": 0.6}}), ConfigError,
         "reversed"),
        (lambda p, c: SelectionParams.build({"clustering": {"lookbacks": ["a"]}}), ConfigError,
         "clustering.lookbacks.0: Input should be a valid integer"),
        (lambda p, c: select(p, c.drop(columns=["direction"]), "htr_3_4"), DataError,
         r"missing columns \['direction'\]"),
        (lambda p, c: select(p, c.assign(direction="FLAT"), "htr_3_4"), DataError, "LONG or SHORT"),
        (lambda p, c: select(p, c.assign(score=1.0), "htr_3_4"), DataError,
         r"columns \['score'\] clash"),
    ],
    ids=["engine", "unknown-param", "top-n", "min-pool", "window", "stress", "weights", "order",
         "band", "lookbacks", "no-direction", "bad-direction", "clash"],
)  # fmt: skip
def test_errors(panel, candidates, call, error, message):
    with pytest.raises(error, match=message):
        call(panel, candidates)


def test_empty_day(panel):
    none = pd.DataFrame({"symbol": pd.Series(dtype="str"), "direction": pd.Series(dtype="str")})
    for engine in ENGINES:
        out = select(panel, none, engine)
        assert out.empty and list(out.columns) == ["symbol", "direction", *SELECTION_COLUMNS]
    empty_returns = pd.DataFrame(index=pd.DatetimeIndex([], name="market_date"))
    out = select(empty_returns, pd.DataFrame({"symbol": ["A"], "direction": ["LONG"]}), "htr_3_4")
    assert out["reason"].tolist() == ["missing data: no returns"]


def test_identity_gives_one_winner_per_asset_and_side(panel):
    twin = panel.assign(UP0_PERP=panel["UP0"] * 1.001)
    candidates = pd.DataFrame(
        {"symbol": ["UP0", "UP0_PERP"], "direction": "LONG", "identity": ["UP", "UP"]}
    )
    out = select(twin, candidates, "htr_3_4", SelectionParams(min_pool=0)).set_index("symbol")
    assert out["selected"].sum() == 1 and out.loc["UP0", "selected"]
    assert out.loc["UP0_PERP", "reason"] == "another listing of UP LONG was selected"
    separate = select(
        twin, candidates.drop(columns="identity"), "htr_3_4", SelectionParams(min_pool=0)
    )
    assert separate["selected"].sum() == 2  # no identity: each symbol is its own asset
