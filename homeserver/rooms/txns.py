"""Client transaction IDs this process completed lately, with the events they made.

A client repeats a transaction ID when it retries a send whose answer it missed, usually
seconds later: the pipeline answers such a retry from here, without reading storage. A repeat
this map does not know (an older one, one from before a restart, or one completed by another
process) is caught by storage: the event_txn_ids key refuses the batch that would store it
again (RepeatedTxns), and the pipeline answers it then. So the hot path never reads storage
for transaction IDs, and forgetting an entry here costs only that one slower answer."""

from __future__ import annotations

from homeserver.ids import EventID
from homeserver.lru import Lru
from homeserver.storage.events import TxnKey

RECENT_TXNS = 20_000


class RecentTxns:
    def __init__(self, size: int = RECENT_TXNS) -> None:
        self._events: Lru[tuple[str, str, str], EventID] = Lru(size)

    def get(self, txn: TxnKey) -> EventID | None:
        return self._events.get(_key(txn))

    def add(self, txn: TxnKey, event_id: EventID) -> None:
        self._events.put(_key(txn), event_id)

    def clear(self) -> None:
        self._events.clear()


def _key(txn: TxnKey) -> tuple[str, str, str]:
    """What identifies a transaction in storage (the client's own txn_id is implied by it)."""
    return (txn.user_id, txn.device_id, txn.txn_key)
