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
from homeserver.push.bulk import EventMatcher, RoomContext
from homeserver.push.evaluator import PushEvaluator
from homeserver.push.room_state import RoomPushState, RoomPushStates
from homeserver.push.service import PushRules
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import MAIN_THREAD, Outcome, PushPlan, UserOutcome

log = logging.getLogger(__name__)

RULES_CACHE_SIZE: Final = 20_000
CommitListener = Callable[[Sequence[EventToPersist]], None]
Group = tuple[Outcome | None, list[UserID]]  # an outcome and the members who get it


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
        self._outcomes: dict[int, tuple[tuple[Any, ...], Outcome]] = {}
        self._equal: dict[Outcome, Outcome] = {}
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
            plan = await self._plan_event(event, state)
            out.append(replace(item, push=plan) if plan is not None else item)
            states[room_id] = state.after(event, self._states.is_local(event.state_key or ""))
        return out

    async def _plan_event(self, event: Event, state: RoomPushState) -> PushPlan | None:
        joined, left = self._membership_change(event, state)
        try:
            groups, invited = await self._evaluate(event, state)
        except Exception:  # the event is stored all the same, and a join still counts
            log.exception("push rule evaluation failed; event stored without notifications")
            groups, invited = [], None
        plan = plan_of(thread_of(event), groups, invited, joined, left)
        if plan.common is None and not plan.own and joined is None and left is None:
            return None  # nothing to store or tell
        return plan

    def _membership_change(self, event: Event, state: RoomPushState) -> tuple[UserID | None, UserID | None]:
        """The local user whose join the event is (not a change of their name or avatar), or
        whose leave or ban."""
        target = event.state_key
        if event.type != "m.room.member" or not target or not self._states.is_local(target):
            return None, None
        was_joined = target in state.local_names
        if event.membership == "join" and not was_joined:
            return UserID(target), None
        if event.membership in ("leave", "ban") and was_joined:
            return None, UserID(target)
        return None, None

    async def _evaluate(self, event: Event, state: RoomPushState) -> tuple[list[Group], UserOutcome | None]:
        """The local members (not the sender) grouped by outcome, and a local invitee's."""
        context = RoomContext(state.version, len(state.joined), state.power_levels, state.create)
        matcher = EventMatcher(event, context)
        names, sender = state.local_names, event.sender
        groups: dict[int, Group] = {}  # equal outcomes are one object: grouped by identity
        for user_id in names:
            if user_id != sender:
                rules = self._cached_rules(user_id) or await self._user_rules(user_id)
                outcome = self._outcome(matcher, sender, user_id, rules, names.get(user_id))
                group = groups.get(id(outcome))
                if group is None:
                    groups[id(outcome)] = (outcome, [user_id])
                else:
                    group[1].append(user_id)
        target = event.state_key
        invited = None
        if (
            event.type == "m.room.member"
            and event.membership == "invite"
            and target
            and self._states.is_local(target)
            and target not in names
        ):  # spec: .m.rule.invite_for_me
            invitee = UserID(target)
            rules = self._cached_rules(invitee) or await self._user_rules(invitee)
            invited = UserOutcome(invitee, self._outcome(matcher, sender, invitee, rules, None))
        return list(groups.values()), invited

    def _outcome(
        self, matcher: EventMatcher, sender: str, user_id: UserID, rules: _UserRules, name: str | None
    ) -> Outcome | None:
        if sender in rules.ignored:
            return None  # spec: "Ignoring Users", no notifications from them
        rule = matcher.first_match(user_id, rules.evaluator, name)
        if rule is None or not rule.result.notify:
            return None
        return self._outcome_of(rule.actions, rule.result.highlight)

    def _cached_rules(self, user_id: UserID) -> _UserRules | None:
        cached = self._users.peek(user_id)  # peek: this runs for every member of every event
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

    def _outcome_of(self, actions: tuple[Any, ...], highlight: bool) -> Outcome:
        """The outcome of a compiled rule's actions, encoded once per rule, and one object for
        equal outcomes (each user's rules are their own objects; members are grouped by
        outcome identity)."""
        known = self._outcomes.get(id(actions))
        if known is not None and known[0] is actions:
            return known[1]
        if len(self._outcomes) > RULES_CACHE_SIZE:
            self._outcomes.clear()
            self._equal.clear()
        fresh = Outcome(highlight, orjson.dumps(list(actions)).decode())
        outcome = self._equal.setdefault(fresh, fresh)
        self._outcomes[id(actions)] = (actions, outcome)
        return outcome


def plan_of(
    thread_id: str,
    groups: Sequence[Group],
    invited: UserOutcome | None,
    joined: UserID | None = None,
    left: UserID | None = None,
) -> PushPlan:
    """The plan: the largest group's outcome stored once, the others' each their own (an
    invitee's always: the event's row is for joined members only)."""
    largest = max(groups, key=lambda group: len(group[1]), default=(None, []))
    common = largest[0]
    own = [UserOutcome(u, outcome) for outcome, users in groups if outcome is not common for u in users]
    if invited is not None and invited.outcome is not None:
        own.append(invited)
    return PushPlan(thread_id, common, tuple(largest[1]) if common else (), tuple(own), joined, left)
