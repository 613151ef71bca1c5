"""WebSocket endpoints: /federation/events, /fl/events and /api/v1/ws.

Protocol (the seed's): the client sends
  {"action": "subscribe", "events": [...], "filters": {...}, "lastEventId": 42}
and receives {"event": "subscribed", ...}, then every matching event as
  {"id", "event", "system", "severity", "timestamp", "data"}.
`lastEventId` replays what the client missed since that id (in commit order, see
cursor.py). Other actions:
`unsubscribe`, `ping`, `stream` (periodic data from a registered provider) and
`stop_stream`. Close codes: 4401 unauthenticated, 4403 missing scope.
"""
from __future__ import annotations

import asyncio
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from fedplane.api.scopes import Scope

from .auth import BEARER_SUBPROTOCOL
from .cursor import EventCursor
from .groups import EVENTS_GROUP
from .models import System
from .relay import ensure_relay
from .streams import StreamError, stream_provider
from .subscriptions import Subscription

__all__ = ["EventsConsumer", "FederationEventsConsumer", "FlEventsConsumer"]

log = logging.getLogger(__name__)
MIN_STREAM_INTERVAL_MS = 250


class EventsConsumer(AsyncJsonWebsocketConsumer):
    systems: tuple[str, ...] = tuple(System.values)
    required_scope: str | None = None

    async def connect(self) -> None:
        self.principal = self.scope.get("principal")
        self.subscriptions: list[Subscription] = []
        self.cursor: EventCursor | None = None
        self.streams: dict[str, asyncio.Task] = {}
        # A browser that sent its token as a subprotocol needs that protocol accepted by name.
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None)
        if self.principal is None:
            await self.send_json({"event": "error", "error": {"code": "UNAUTHORIZED",
                                  "message": "Send an API key or a bearer token."}})
            await self.close(code=4401)
            return
        if self.required_scope and self.required_scope not in self.principal.scopes:
            await self.send_json({"event": "error", "error": {"code": "FORBIDDEN",
                                  "message": f"Missing scope {self.required_scope!r}."}})
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        self.cursor = await EventCursor.start(self.systems)
        await ensure_relay()

    async def disconnect(self, code: int) -> None:
        for task in self.streams.values():
            task.cancel()
        await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if getattr(self, "principal", None) is None:
            return
        action = content.get("action") if isinstance(content, dict) else None
        handler = {
            "subscribe": self._subscribe, "unsubscribe": self._unsubscribe, "ping": self._ping,
            "stream": self._stream, "stop_stream": self._stop_stream,
        }.get(action)
        if handler is None:
            await self._error("BAD_REQUEST", f"unknown action {action!r}")
            return
        await handler(content)

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return {"action": None}

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"event": "error", "error": {"code": code, "message": message}})

    async def _subscribe(self, content: dict) -> None:
        events, filters = content.get("events") or [], content.get("filters") or {}
        if not isinstance(events, list) or not isinstance(filters, dict):
            await self._error("VALIDATION_ERROR", "`events` must be a list and `filters` an object")
            return
        systems = [s for s in (content.get("systems") or self.systems) if s in self.systems]
        subscription = Subscription.build(events, filters, systems or list(self.systems))
        self.subscriptions.append(subscription)
        await self.send_json({"event": "subscribed", "data": {
            "events": sorted(subscription.events), "filters": subscription.filters,
            "systems": sorted(subscription.systems)}})
        last_id = content.get("lastEventId")
        if isinstance(last_id, int) and not isinstance(last_id, bool) and 0 <= last_id < 2**63:  # an event id
            async for message in self.cursor.replay(last_id):
                if subscription.matches(message):
                    await self.send_json(message)

    async def _unsubscribe(self, content: dict) -> None:
        self.subscriptions.clear()
        await self.send_json({"event": "unsubscribed", "data": {}})

    async def _ping(self, content: dict) -> None:
        await self.send_json({"event": "pong", "data": {}})

    async def event_message(self, delivery: dict) -> None:
        if self.cursor is None:
            return
        for event in await self.cursor.receive(delivery):
            if any(s.matches(event) for s in self.subscriptions):
                await self.send_json(event)

    async def _stream(self, content: dict) -> None:
        stream_type = str(content.get("type", ""))
        try:
            provider, scope = stream_provider(stream_type)
        except StreamError as exc:
            await self._error("VALIDATION_ERROR", str(exc))
            return
        if scope and scope not in self.principal.scopes:
            await self._error("FORBIDDEN", f"Missing scope {scope!r}.")
            return
        try:
            interval = max(MIN_STREAM_INTERVAL_MS, int(content.get("interval", 1000))) / 1000
        except (TypeError, ValueError):
            await self._error("VALIDATION_ERROR", "`interval` must be a number of milliseconds")
            return
        key = f"{stream_type}:{content.get('executionId', '')}"
        if key in self.streams:
            self.streams.pop(key).cancel()
        self.streams[key] = asyncio.get_running_loop().create_task(
            self._pump(stream_type, provider, content, interval))

    async def _pump(self, stream_type: str, provider, params: dict, interval: float) -> None:
        while True:
            try:
                data = await provider(params, self.principal)
            except StreamError as exc:
                await self._error("NOT_FOUND", str(exc))
                return
            await self.send_json({"event": f"{stream_type}.stream", "data": data})
            await asyncio.sleep(interval)

    async def _stop_stream(self, content: dict) -> None:
        prefix = f"{content.get('type', '')}:"
        for key in [k for k in self.streams if k.startswith(prefix)]:
            self.streams.pop(key).cancel()
        await self.send_json({"event": "stream_stopped", "data": {"type": content.get("type")}})


class FlEventsConsumer(EventsConsumer):
    systems = (System.FL,)
    required_scope = Scope.FL_METRICS_VIEW


class FederationEventsConsumer(EventsConsumer):
    systems = (System.FEDERATION,)
    required_scope = Scope.FEDERATION_APPLICATIONS_READ
