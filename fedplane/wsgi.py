"""WSGI entry point (HTTP only; WebSockets and SSE need the ASGI one)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fedplane.settings")
application = get_wsgi_application()
