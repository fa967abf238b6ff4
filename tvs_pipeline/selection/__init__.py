"""selection."""

from __future__ import annotations
