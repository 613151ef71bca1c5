"""Cross-system layer: the one place that composes flcore, federation_registry and regions."""
