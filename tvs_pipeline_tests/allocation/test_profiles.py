import pytest

from tvs_pipeline.allocation.profiles import PROFILES, Barbell, MinVariance, make_profile
from tvs_pipeline.errors import ConfigError


def test_the_seven_profiles():
    assert list(PROFILES) == [
        "equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity",
        "hrp", "barbell",
    ]  # fmt: skip


def test_defaults_and_options():
    assert make_profile("min_variance") == MinVariance()
    assert make_profile("min_variance").estimation.shrinkage == 0.1
    barbell = make_profile("barbell", core="hrp", core_share=0.8)
    assert (barbell.core, barbell.core_share, barbell.aggressive_count) == ("hrp", 0.8, 2)
    assert barbell.core_profile().name == "hrp"
    assert Barbell().core_profile().name == "min_variance"


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("kelly", {}, "allocation profile 'kelly': unknown"),
        ("barbell", {"core_share": 0.3}, "core_share: Input should be greater than or equal"),
        ("hrp", {"linkage": "median"}, "linkage"),
        ("min_variance", {"estimation": {"covariance": "gerber"}}, "estimation.covariance"),
    ],
)
def test_errors(name, options, message):
    with pytest.raises(ConfigError, match=message):
        make_profile(name, **options)
