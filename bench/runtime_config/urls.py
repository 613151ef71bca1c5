"""fedplane's routes plus /bench-static/<file> (django.views.static.serve from BENCH_STATIC_DIR)."""
import os

from django.urls import path
from django.views.static import serve

from fedplane.urls import urlpatterns as fedplane_urlpatterns

urlpatterns = [
    path("bench-static/<path:path>", serve, {"document_root": os.environ.get("BENCH_STATIC_DIR", "/nonexistent")}),
    *fedplane_urlpatterns,
]
