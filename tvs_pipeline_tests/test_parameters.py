"""The base of parameter types (tvs_pipeline/parameters.py): build, update, one-line errors."""

from __future__ import annotations

import pytest
from pydantic import Field

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.parameters import Parameters


class Inner(Parameters):
    threshold: float = Field(0.5, ge=0, le=1)
    lookback: int = 20


class Outer(Parameters):
    top_n: int = Field(2, ge=1)
    inner: Inner = Field(default_factory=Inner)


def test_build_takes_nested_mappings_and_keeps_the_field_defaults():
    built = Outer.build({"inner": {"lookback": 30}})
    assert built == Outer(top_n=2, inner=Inner(threshold=0.5, lookback=30))
    assert Outer.build() == Outer() and Outer.build(None) == Outer()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"top_m": 3}, r"^outer: top_m: unknown key \(did you mean 'top_n'\?\)$"),
        ({"inner": {"treshold": 0.1}}, r"^outer: inner\.treshold: unknown key \(did you mean"),
        ({"inner": {"zzz": 1}}, r"^outer: inner\.zzz: unknown key$"),
        ({"top_n": 0}, r"^outer: top_n: .*greater than or equal to 1 \(got 0\)$"),
        ({"top_n": "2"}, r"^outer: top_n: .*valid integer \(got '2'\)$"),
        ({"inner": {"threshold": 1.5}}, r"^outer: inner\.threshold: .*\(got 1\.5\)$"),
    ],
    ids=["typo", "nested-typo", "nested-unknown", "below-bound", "strict-type", "nested-bound"],
)
def test_a_bad_value_is_one_line_naming_the_key(values, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Outer.build(values, "outer")
    assert "\n" not in str(caught.value)


def test_the_subject_defaults_to_the_type_name():
    with pytest.raises(ConfigError, match=r"^Outer: top_n: "):
        Outer.build({"top_n": -1})


def test_a_missing_required_key_is_named():
    class Needs(Parameters):
        name: str

    with pytest.raises(ConfigError, match=r"^needs: name: required key is missing$"):
        Needs.build({}, "needs")


def test_updated_merges_nested_mappings_one_level_and_validates():
    base = Outer(top_n=3, inner=Inner(threshold=0.2, lookback=40))
    assert base.updated(inner={"lookback": 10}) == Outer(
        top_n=3, inner=Inner(threshold=0.2, lookback=10)
    )
    assert base.updated(inner=Inner()) == Outer(top_n=3, inner=Inner())  # a value: taken whole
    assert base.updated(top_n=5).top_n == 5
    assert base.inner.lookback == 40  # the original is untouched
    with pytest.raises(ConfigError, match=r"inner\.threshold"):
        base.updated(inner={"threshold": 2.0})


def test_parameters_are_frozen_values():
    params = Outer()
    with pytest.raises(Exception, match="frozen"):
        params.top_n = 4
    assert hash(Inner()) == hash(Inner()) and Inner() == Inner()
