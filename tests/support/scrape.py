"""Reading a Prometheus scrape in tests: samples by name and labels, and the names a query may use."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["samples", "total", "label_values", "sample_names"]

# The series names each family type exposes, after its family name.
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created", ""), "gauge": ("",), "info": ("_info",),
             "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "stateset": ("",), "unknown": ("",)}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def total(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    return sum(value for sample, have, value in samples(text)
               if sample == name and all(have.get(k) == v for k, v in labels.items()))


def label_values(text: str, name: str, label: str, **labels: str) -> set[str]:
    return {have[label] for sample, have, _ in samples(text)
            if sample == name and label in have and all(have.get(k) == v for k, v in labels.items())}


def sample_names(text: str) -> set[str]:
    """Every series name the scrape's families define, with or without samples yet
    (a labelled counter nobody has counted yet still names `<family>_total`)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names
