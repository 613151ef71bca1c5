"""Typed errors of the strategy layer (no Django: services map them to FL codes)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AggregationMismatch",
    "InvalidStrategyOptions",
    "PluginLoadError",
    "StrategyError",
    "TooFewUpdates",
    "UnknownStrategy",
    "WeightingError",
]


class StrategyError(ValueError):
    """Base class: a strategy could not be built or could not aggregate."""


class UnknownStrategy(StrategyError):
    """The algorithm is neither built in nor a configured plug-in."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown strategy {name!r}; known: {', '.join(self.known)}")


class InvalidStrategyOptions(StrategyError):
    """Options that the chosen algorithm does not accept or cannot use; ``field``: the option at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PluginLoadError(StrategyError):
    """A plug-in path does not import, or does not name a Flower Strategy class."""


class WeightingError(StrategyError):
    """Client weights cannot be computed from the replies (missing or bad metric)."""


class AggregationMismatch(StrategyError):
    """Client updates disagree on tensor names, shapes, or the number of weights."""


class TooFewUpdates(StrategyError):
    """A robust strategy got fewer valid updates than its Byzantine assumption needs."""

    def __init__(self, message: str, *, needed: int, valid: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.valid = valid
