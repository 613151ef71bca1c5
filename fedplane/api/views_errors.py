"""Django's error views (400, 403, 404, 500, CSRF failure): the JSON envelope on API
paths, Django's plain pages elsewhere. DRF views answer their own errors; these cover
what happens outside them (a disallowed Host, an unknown path, a plain view)."""
from django.http import HttpResponseNotFound, HttpResponseServerError
from django.views import csrf, defaults

from .errors import ErrorCode
from .middleware import API_PREFIX, json_error

__all__ = ["api_bad_request", "api_forbidden", "api_not_found", "server_error", "csrf_failure"]


def api_bad_request(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return json_error(400, ErrorCode.BAD_REQUEST, "Bad request.", request=request)
    return defaults.bad_request(request, exception)


def api_forbidden(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return json_error(403, ErrorCode.FORBIDDEN, "Forbidden.", request=request)
    return defaults.permission_denied(request, exception)


def api_not_found(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return json_error(404, ErrorCode.NOT_FOUND, f"No endpoint at {request.path}.", request=request)
    return HttpResponseNotFound("Not found")


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return json_error(500, ErrorCode.INTERNAL_ERROR, "An internal error occurred; it has been logged.",
                          request=request)
    return HttpResponseServerError("Server error")


def csrf_failure(request, reason=""):
    if request.path.startswith(API_PREFIX):
        return json_error(403, ErrorCode.FORBIDDEN, "CSRF check failed: send credentials in the Authorization "
                          "or X-API-Key header, or the CSRF token with a session.", request=request)
    return csrf.csrf_failure(request, reason)
