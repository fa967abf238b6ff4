"""Step logs: the run's stdout and stderr kept in files for the UI, not echoed to a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# The compute log managers have no top-level export; the class below is the stock local one
# with its capture changed, named in dagster.yaml like any other.
from dagster._core.execution.compute_logs import redirect_to_file
from dagster._core.storage.compute_log_manager import CapturedLogContext, ComputeIOType
from dagster._core.storage.local_compute_log_manager import (
    IO_TYPE_EXTENSION,
    LocalComputeLogManager,
)

__all__ = ["StepLogManager"]


class StepLogManager(LocalComputeLogManager):
    """The local compute log manager, capturing without mirroring the output back.

    The stock manager redirects the process's stdout and stderr to the log files and starts a
    ``tail -F`` (and a watcher process) to copy them back to the terminal. A ``tvs`` run
    executes in the command's own process: the copy would land in the middle of its progress
    display, a Ctrl-C would reach the helpers too (a traceback from each), and the terminal
    would get the run's output a second late. This one only redirects: the UI's run page
    shows the step logs, and ``tvs`` draws its progress on a descriptor of its own.
    """

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> StepLogManager:
        """Build from dagster.yaml (``base_dir``, optional ``polling_timeout``)."""
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Iterator[CapturedLogContext]:
        """Redirect stdout and stderr to the log files of ``log_key`` for the block."""
        out = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDOUT])
        err = self.get_captured_local_path(log_key, IO_TYPE_EXTENSION[ComputeIOType.STDERR])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with redirect_to_file(sys.stdout, out), redirect_to_file(sys.stderr, err):
            yield CapturedLogContext(log_key)
        path = self.complete_artifact_path(log_key)  # marks the capture complete for the UI
        with open(path, "a", encoding="utf-8"):
            pass
