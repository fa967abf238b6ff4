"""The ``tvs`` command's entry point: a Ctrl-C while the libraries load is an interrupt too.

`tvs_pipeline.cli` imports pandas, Dagster's config and the profiles before its ``main`` can
catch anything (about a second): an interrupt then would print the import's traceback.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # the shell's code for SIGINT (as `tvs_pipeline.cli.INTERRUPTED`)


def main() -> int:
    """Load the CLI and run it; a Ctrl-C during the load is one line and exit 130."""
    try:
        from tvs_pipeline.cli import main as run
    except KeyboardInterrupt:
        print("tvs: interrupted", file=sys.stderr)
        return INTERRUPTED
    return run()
