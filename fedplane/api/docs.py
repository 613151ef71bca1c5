"""The interactive API reference at /api/docs/: Swagger UI from the sidecar's static files.

drf-spectacular's default page inlines its init script and a stylesheet, which the site's
Content-Security-Policy (`default-src 'self'`) refuses, leaving a blank page. The split view
serves the init script from `?script`, and our template links the stylesheet instead, so
nothing on the page is inline. Swagger UI draws its icons as `data:` SVG images, which this
page's policy allows (and nothing more than the site's).
"""
from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView

__all__ = ["ApiDocsView", "DOCS_CSP"]

DOCS_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none'")


class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "fedplane/swagger_ui.html"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response
