"""Federated learning: executions on Flower, launched by Celery workers."""
