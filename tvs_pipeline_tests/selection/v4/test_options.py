import pytest
from pydantic import ValidationError

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.v4 import V4Options


def test_defaults_are_the_champions_configuration():
    options = V4Options()
    assert (options.max_stage, options.linkage) == (4, "ward")
    assert options.htr_equivalent
    assert not V4Options(max_stage=3).htr_equivalent
    assert not V4Options(linkage="average").htr_equivalent


def test_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        V4Options().max_stage = 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_stage": 0}, "max_stage: Input should be greater than or equal to 1 \\(got 0\\)"),
        ({"max_stage": 2.0}, "max_stage: Input should be a valid integer"),
        ({"max_stage": True}, "max_stage: Input should be a valid integer"),
        ({"linkage": "centroid"}, "linkage: Input should be 'ward'"),
        ({"cut": 0.4}, "cut: unknown key"),
    ],
    ids=["stage", "float", "bool", "linkage", "extra"],
)
def test_build_errors(options, message):
    with pytest.raises(ConfigError, match=f"selection v4: {message}"):
        V4Options.build(options, "selection v4")
