"""fedplane: a control plane for federated learning built on Flower."""
from .celery import app as celery_app

__all__ = ["celery_app"]
