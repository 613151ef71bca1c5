"""The Celery application: settings come from Django's (CELERY_* names)."""
import os

from celery import Celery

from fedplane.ops.broker import install as install_redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
install_redis_transport()  # kombu's Redis transport with its outage fix (fedplane/ops/broker.py)

app = Celery("fedplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
