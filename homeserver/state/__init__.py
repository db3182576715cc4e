"""State resolution (v2 and v2.1) over a small storage protocol: see `resolution.py`."""

from homeserver.state.resolution import StateResolutionError, UnsupportedStateResolution, resolve_state
from homeserver.state.source import EventSource, InMemoryEventSource, walk_auth_chain

__all__ = [
    "EventSource",
    "InMemoryEventSource",
    "StateResolutionError",
    "UnsupportedStateResolution",
    "resolve_state",
    "walk_auth_chain",
]
