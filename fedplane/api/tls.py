"""The verified client certificate of a TLS connection, in the ASGI scope (the "tls" extension).

uvicorn 0.49 verifies a client certificate when told to (`--ssl-cert-reqs 2 --ssl-ca-certs CA.pem`)
but does not implement the ASGI TLS extension: the app never sees which certificate the peer
presented. These protocol classes are uvicorn's own with one addition: on a TLS connection, every
request's scope gets `extensions["tls"]` as the ASGI spec defines it, `client_cert_chain` holding
the peer's leaf certificate in PEM (Python's ssl module exposes the leaf only), read from the
transport's `ssl_object`. Use one with uvicorn's `--http`:

    uvicorn fedplane.asgi:application --http fedplane.api.tls:TLSProtocol \\
        --ssl-certfile server.pem --ssl-keyfile server.key --ssl-cert-reqs 2 --ssl-ca-certs client-ca.pem
"""
from __future__ import annotations

import asyncio
import ssl

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TLSProtocol", "H11TLSProtocol", "tls_extension"]

_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict | None:
    """The ASGI "tls" extension of a connection; None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)  # verified by the handshake when one is required
    return {"server_cert": None, "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None, "client_cert_error": None,
            "tls_version": _VERSIONS.get(ssl_object.version() or ""), "cipher_suite": None}


class _TLSScopeMixin:
    """Wraps the connection's app so that each request's scope carries the connection's TLS facts."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        extension = tls_extension(transport)
        if extension is None:
            return
        app = self.app

        async def app_with_tls(scope, receive, send):
            scope.setdefault("extensions", {})["tls"] = extension
            return await app(scope, receive, send)

        self.app = app_with_tls


class H11TLSProtocol(_TLSScopeMixin, H11Protocol):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional for uvicorn: h11 then, as uvicorn's "auto" picks
    TLSProtocol: type = H11TLSProtocol
else:
    class HttpToolsTLSProtocol(_TLSScopeMixin, HttpToolsProtocol):
        pass

    TLSProtocol = HttpToolsTLSProtocol
