"""A terse progress logger: one line per finished step, for the ``tvs`` command line."""

from __future__ import annotations

import logging
import sys

import dagster as dg

__all__ = ["progress_logger"]

SHOWN = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None or event.event_type_value not in SHOWN:
            return
        step = meta.get("step_key") or ""
        kind = event.event_type_value
        if kind == "STEP_START":
            line = f"  … {step}"
        elif kind == "STEP_SUCCESS":
            line = f"  ✓ {step}"
        elif kind == "STEP_FAILURE":
            line = f"  ✗ {step}: {event.step_failure_data.error.message.splitlines()[0]}"
        else:
            data = event.event_specific_data
            verdict = "passed" if data.passed else "FAILED"
            line = f"    check {data.asset_check_key.name}: {verdict}"
        print(line, file=sys.stderr, flush=True)


@dg.logger(description="One line per step start, success, failure and check.")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Build the progress logger."""
    log = logging.getLogger("tvs.progress")
    log.setLevel(logging.INFO)
    log.handlers = [_ProgressHandler()]
    log.propagate = False
    return log
