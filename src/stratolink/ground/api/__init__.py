"""The ground HTTP/WebSocket API and the dashboard, served by one FastAPI app.

`create_app(store_url)` wires the mission store, operator log-in (scrypt + bearer tokens),
command signing (Ed25519, per operator), the live stream at /ws and the static dashboard;
the routes of each area are a router module of this package.
"""

from stratolink.ground.api.app import create_app

__all__ = ["create_app"]
