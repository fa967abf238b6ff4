"""defs/assets."""

from __future__ import annotations
