"""The v4 context: frozen, append-only audit trail, tampering detected, products owned."""

import pandas as pd
import pytest
from pydantic import ValidationError

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.v4 import (
    AUDIT_COLUMNS,
    STAGE_NAMES,
    PolicyStage,
    SelectionContext,
    StageClock,
    SynthesisStage,
    v4_audit,
)


def test_the_trail_grows_by_one_entry_per_stage(staged):
    names = ["start", *STAGE_NAMES]
    for k, name in enumerate(names):
        context = staged[name]
        assert [e.stage for e in context.audit] == list(STAGE_NAMES[:k])
        if k:  # every earlier entry is carried over, the very same objects
            previous = staged[names[k - 1]].audit
            assert all(a is b for a, b in zip(previous, context.audit, strict=False))
    final = staged["synthesis"]
    assert final.audit[0].digest != final.audit[1].digest
    assert final.audit[-1].started >= final.audit[0].started


def test_entries_and_context_are_frozen(staged):
    context = staged["synthesis"]
    entry = context.audit[0]
    with pytest.raises(ValidationError, match="frozen"):
        entry.note = "edited"
    with pytest.raises(ValidationError, match="frozen"):
        context.audit = ()
    with pytest.raises(ValidationError, match="frozen"):
        context.features = None
    with pytest.raises(AttributeError):
        context.audit.append(entry)  # a tuple
    assert context.audit[0].note == entry.note


def forged(context, position, **changes):
    """A copy of ``context`` whose entry ``position`` was replaced by an edited copy."""
    audit = list(context.audit)
    audit[position] = audit[position].model_copy(update=changes)
    return context.model_copy(update={"audit": tuple(audit)})


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda c: forged(c, 1, note="nothing happened"), "broken at entry 1 \\(features\\)"),
        (lambda c: forged(c, 0, rows_out=0), "broken at entry 0 \\(ingestion\\)"),
        (lambda c: forged(c, 2, seconds=0.0), "broken at entry 2"),
        (lambda c: c.model_copy(update={"audit": c.audit[1:]}), "broken at entry 0"),
        (lambda c: c.model_copy(update={"audit": (c.audit[1], c.audit[0], *c.audit[2:])}),
         "broken at entry 0"),
        (lambda c: c.model_copy(update={"run_id": "another-run"}), "broken at entry 0"),
        (lambda c: c.model_copy(update={"audit": c.audit[:3]}),
         r"\['clusters'\] set without a clustering audit entry"),
    ],
    ids=["note", "rows", "seconds", "removed", "reordered", "transplanted", "truncated"],
)  # fmt: skip
def test_tampering_is_detected(staged, tamper, message):
    context = tamper(staged["clustering"])
    with pytest.raises(DataError, match=message):
        context.verify_audit()
    with pytest.raises(DataError, match=message):
        PolicyStage().run(context)  # the next stage refuses to build on it
    with pytest.raises(DataError, match=message):
        v4_audit(context)
    with pytest.raises(ValidationError, match=message):
        SelectionContext(**dict(context))  # nor can it be rebuilt


def test_a_product_needs_its_stage(staged):
    start = staged["start"]
    features = staged["features"].features
    with pytest.raises(ValidationError, match=r"\['features'\] set without a features audit"):
        SelectionContext(**(dict(start) | {"features": features}))
    with pytest.raises(DataError, match=r"v4 policy: may not write \['features'\]"):
        start.advance("policy", StageClock.start(), 0, 0, "", features=features)
    with pytest.raises(DataError, match="unknown stage 'scoring'"):
        start.advance("scoring", StageClock.start(), 0, 0, "")


def test_a_stage_can_be_rerun_and_is_recorded_twice(staged):
    again = SynthesisStage().run(staged["synthesis"])
    assert [e.stage for e in again.audit] == [*STAGE_NAMES, "synthesis"]
    pd.testing.assert_frame_equal(again.decisions, staged["synthesis"].decisions)


@pytest.mark.parametrize("run_id", ["../etc", "", "a b", "-leading"])
def test_run_id_is_a_plain_name(day_inputs, run_id):
    returns, candidates = day_inputs
    with pytest.raises(ValidationError, match="run_id"):
        SelectionContext(
            run_id=run_id, params=SelectionParams(), returns=returns, candidates=candidates
        )


def test_inputs_must_be_frames(day_inputs):
    returns, candidates = day_inputs
    with pytest.raises(ValidationError, match="candidates"):
        SelectionContext(
            run_id="r", params=SelectionParams(), returns=returns, candidates=candidates.to_dict()
        )
    with pytest.raises(ValidationError, match="params"):
        SelectionContext(run_id="r", params={}, returns=returns, candidates=candidates)


def test_audit_frame(staged):
    context = staged["synthesis"]
    frame = v4_audit(context)
    assert list(frame.columns) == list(AUDIT_COLUMNS)
    assert frame["stage"].tolist() == list(STAGE_NAMES)
    assert (frame["run_id"] == "test-run").all()
    assert frame["digest"].tolist() == [e.digest for e in context.audit]
    assert frame["rows_in"].dtype == "int64" and frame["seconds"].dtype == "float64"
    assert frame["started"].dt.tz is not None
    empty = v4_audit(staged["start"])
    assert empty.empty and list(empty.columns) == list(AUDIT_COLUMNS)
