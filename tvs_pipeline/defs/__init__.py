"""The Dagster shell: partitions, resources, assets, checks, jobs and schedules."""

from __future__ import annotations

import warnings

import dagster as dg

# Single-run backfill policies are Beta in Dagster 1.13; the policy is the point of this design
# (docs/architecture.md), so the warning is noise on every import.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
