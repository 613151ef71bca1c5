"""What a subscriber asked for, and whether an event matches it."""
from __future__ import annotations

from dataclasses import dataclass, field

from .models import Severity, System

__all__ = ["Subscription", "TYPE_ALIASES", "parse_systems"]

# The seed's SSE `types` values name events in snake case.
TYPE_ALIASES = {
    "module_loaded": "module.loaded",
    "module_error": "module.error",
    "training_started": "execution.started",
    "training_completed": "execution.completed",
    "training_failed": "execution.failed",
    "round_started": "round.started",
    "round_completed": "round.completed",
}
ERROR_ALIAS = "error"


def parse_systems(raw: list[str] | None) -> frozenset[str]:
    """`both` (the seed's word) and an empty list mean every system."""
    systems = {s.strip() for s in (raw or []) if s.strip()}
    if not systems or "both" in systems or "all" in systems:
        return frozenset(System.values)
    return frozenset(systems)


@dataclass
class Subscription:
    events: frozenset[str] = frozenset()  # empty: every type
    filters: dict[str, str] = field(default_factory=dict)
    systems: frozenset[str] = frozenset(System.values)

    @classmethod
    def build(cls, events=None, filters=None, systems=None) -> "Subscription":
        names = frozenset(TYPE_ALIASES.get(e, e) for e in (events or []) if isinstance(e, str))
        clean = {str(k): str(v) for k, v in (filters or {}).items()}
        return cls(events=names, filters=clean, systems=parse_systems(systems))

    def _type_matches(self, event_type: str, severity: str) -> bool:
        if not self.events or "*" in self.events or event_type in self.events:
            return True
        if ERROR_ALIAS in self.events and severity in (Severity.ERROR, Severity.CRITICAL):
            return True
        return any(e.endswith(".*") and event_type.startswith(e[:-1]) for e in self.events)

    def matches(self, message: dict) -> bool:
        if message["system"] not in self.systems:
            return False
        if not self._type_matches(message["event"], message["severity"]):
            return False
        data = message.get("data") or {}
        return all(str(data.get(key)) == value for key, value in self.filters.items())
