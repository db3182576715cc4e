"""Which local users an event notifies: the push rules of every local joined member (and of
a local invitee) evaluated before the event is persisted, so its push actions are written in
the event's own transaction (DESIGN.md, "Shape": the push evaluator; spec: "Push Rules").

Rules and room states come from memory: a user's compiled rules are kept until their account
data moves (the notifier says so), a room's members and power levels are moved along by each
event. After the commit the listeners (unread counts, pusher delivery) are told."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from homeserver.account_data import AccountData
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.push.evaluator import PushContext, PushEvaluator
from homeserver.push.room_state import RoomPushState, RoomPushStates
from homeserver.push.service import PushRules
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import MAIN_THREAD, PushAction

log = logging.getLogger(__name__)

RULES_CACHE_SIZE: Final = 20_000
CommitListener = Callable[[Sequence[EventToPersist]], None]


def thread_of(event: Event | dict[str, Any]) -> str:
    """The thread an event is in: its thread root's ID, or "main"."""
    content = event.content if isinstance(event, Event) else event.get("content")
    relation = content.get("m.relates_to") if isinstance(content, dict) else None
    if isinstance(relation, dict) and relation.get("rel_type") == "m.thread":
        root = relation.get("event_id")
        if isinstance(root, str):
            return root
    return MAIN_THREAD


@dataclass(frozen=True)
class _UserRules:
    position: int  # account data stream position when read
    evaluator: PushEvaluator
    ignored: frozenset[UserID]


class PushPlanner:
    def __init__(
        self, states: RoomPushStates, rules: PushRules, account_data: AccountData, notifier: Notifier
    ) -> None:
        self._states = states
        self._rules = rules
        self._account_data = account_data
        self._notifier = notifier
        self._users: Lru[UserID, _UserRules] = Lru(RULES_CACHE_SIZE)
        self._encoded: dict[int, tuple[tuple[Any, ...], str]] = {}
        self._listeners: list[CommitListener] = []

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def before_persist(self, items: Sequence[EventToPersist]) -> list[EventToPersist]:
        """The items with their push actions. A failure here costs notifications, never the
        events: they are persisted without."""
        try:
            return await self._plan(items)
        except Exception:
            log.exception("push rule evaluation failed; events stored without notifications")
            return list(items)

    def after_commit(self, items: Sequence[EventToPersist]) -> None:
        for listener in self._listeners:
            try:
                listener(items)
            except Exception:
                log.exception("push listener failed")

    async def _plan(self, items: Sequence[EventToPersist]) -> list[EventToPersist]:
        states: dict[RoomID, RoomPushState | None] = {}
        out = []
        for item in items:
            event = item.event
            room_id = event.room_id
            if room_id not in states:
                states[room_id] = await self._states.get(room_id)
            state = states[room_id]
            if state is None and event.type == "m.room.create":  # a room being created
                state = RoomPushState(event.room_version, frozenset(), {}, None, event)
            if state is None or event.rejected_reason is not None:
                out.append(item)
                continue
            actions = await self._evaluate(event, state)
            out.append(replace(item, push_actions=actions) if actions else item)
            states[room_id] = state.after(event, self._states.is_local(event.state_key or ""))
        return out

    async def _evaluate(self, event: Event, state: RoomPushState) -> tuple[PushAction, ...]:
        users = list(state.local_names)
        target = event.state_key
        if (
            event.type == "m.room.member"
            and event.membership == "invite"
            and target
            and self._states.is_local(target)
            and target not in state.local_names
        ):
            users.append(UserID(target))  # spec: .m.rule.invite_for_me
        thread = thread_of(event)
        actions = []
        member_count = len(state.joined)
        memo: dict[tuple[int, ...], bool] = {}  # shared rules' results for this event
        for user_id in users:
            if user_id == event.sender:
                continue
            rules = self._cached_rules(user_id) or await self._user_rules(user_id)
            if event.sender in rules.ignored:
                continue  # spec: "Ignoring Users", no notifications from them
            context = PushContext(
                user_id,
                state.version,
                member_count,
                state.local_names.get(user_id),
                state.power_levels,
                state.create,
            )
            rule = rules.evaluator.first_match(event, context, memo)
            if rule is None:
                continue
            if rule.result.notify:
                actions.append(PushAction(user_id, thread, rule.result.highlight, self._encode(rule.actions)))
        return tuple(actions)

    def _cached_rules(self, user_id: UserID) -> _UserRules | None:
        cached = self._users.get(user_id)
        if cached is None or self._notifier.changed_since(Stream.ACCOUNT_DATA, user_id, cached.position):
            return None
        return cached

    async def _user_rules(self, user_id: UserID) -> _UserRules:
        """The user's compiled rules and ignored users, read again once their account data
        has moved."""
        position = self._notifier.positions[Stream.ACCOUNT_DATA]
        rules = _UserRules(
            position, await self._rules.evaluator(user_id), await self._account_data.ignored_users(user_id)
        )
        self._users.put(user_id, rules)
        return rules

    def _encode(self, actions: tuple[Any, ...]) -> str:
        """Actions as JSON, encoded once per compiled rule."""
        known = self._encoded.get(id(actions))
        if known is not None and known[0] is actions:
            return known[1]
        encoded = orjson.dumps(list(actions)).decode()
        if len(self._encoded) > RULES_CACHE_SIZE:
            self._encoded.clear()
        self._encoded[id(actions)] = (actions, encoded)
        return encoded
