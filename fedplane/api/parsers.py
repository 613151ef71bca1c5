"""Request body parsers: JSON with orjson (several times faster than the standard library
on numeric payloads such as predict batches), and raw bytes for uploads.

Every JSON body of the API is an object: a body that parses to anything else (`[]`, `null`,
`"x"`, `1`, `false`) is refused here with 422, once for every write endpoint, instead of
reaching views and serializers that index it as a mapping. So is text no database takes: a
NUL character (PostgreSQL's text and jsonb refuse it) or an unpaired surrogate (not UTF-8)."""
from __future__ import annotations

import io

import orjson
from rest_framework import parsers
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

__all__ = ["JSONParser", "RawBytesParser"]

_UTF8 = frozenset({"utf-8", "utf8"})


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, orjson first. A body orjson refuses (bad JSON, but also an integer
    beyond 64 bits or a non-UTF-8 charset) goes to DRF's own parser, so what is accepted and
    the error answered are unchanged."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        raw = stream.read()
        data = _UNPARSED
        if encoding.lower() in _UTF8:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
        # orjson refuses unpaired surrogates, the fallback takes them; NUL arrives escaped.
        suspect = data is _UNPARSED or b"\\u0000" in raw
        if data is _UNPARSED:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        if not isinstance(data, dict):
            # Keyed as a serializer keys a body that is not a mapping, so clients see one shape either way.
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [
                f"The request body must be a JSON object, got {_json_type(data)}."]})
        if suspect:
            where = _unstorable_text(data)
            if where is not None:
                raise ValidationError({where: ["A NUL character or an unpaired surrogate cannot be stored."]})
        return data


_UNPARSED = object()


def unstorable(text: str) -> bool:
    """NUL, or a surrogate that is not half of a pair (it cannot be encoded as UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_text(data, path: str = "") -> str | None:
    """Where in a parsed body (`a.b[2]`, a key included) the first such text is, or None."""
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                return where or api_settings.NON_FIELD_ERRORS_KEY
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and unstorable(key):
                    return where or api_settings.NON_FIELD_ERRORS_KEY
                stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string"}.get(type(value), "a number")


class RawBytesParser(parsers.BaseParser):
    """Hands the body stream to the view untouched (artifact and dataset uploads, CSV, OIP
    binary tensors)."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream
