"""defs."""

from __future__ import annotations
