"""Moved to floyo_scale.progress (the one progress model); kept only until db/archive.py and
db/partition.py import from there."""

from __future__ import annotations

from ..progress import Count, Reporter, Step, ignore

__all__ = ["Count", "Reporter", "Step", "ignore"]
