"""Channels group names, built in one place."""
from __future__ import annotations

from .models import System

__all__ = ["group_for_system", "ALL_SYSTEM_GROUPS"]


def group_for_system(system: str) -> str:
    return f"events.{system}"


ALL_SYSTEM_GROUPS = tuple(group_for_system(s) for s in System.values)
