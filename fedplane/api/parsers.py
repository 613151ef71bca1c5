"""Request body parsers: JSON with orjson (several times faster than the standard library
on numeric payloads such as predict batches), and raw bytes for uploads."""
from __future__ import annotations

import io

import orjson
from rest_framework import parsers

__all__ = ["JSONParser", "RawBytesParser"]

_UTF8 = frozenset({"utf-8", "utf8"})


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, orjson first. A body orjson refuses (bad JSON, but also an integer
    beyond 64 bits or a non-UTF-8 charset) goes to DRF's own parser, so what is accepted and
    the error answered are unchanged."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        raw = stream.read()
        if encoding.lower() in _UTF8:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class RawBytesParser(parsers.BaseParser):
    """Hands the body stream to the view untouched (artifact and dataset uploads, CSV, OIP
    binary tensors)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream
