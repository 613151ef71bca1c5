"""Event log (outbox), broadcasting, WebSocket consumers and the SSE stream."""
