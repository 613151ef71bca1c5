"""Domain logic of federated learning, shared by views, admin actions and Celery tasks."""
