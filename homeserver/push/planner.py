"""Which local users an event notifies: the push rules of every local joined member (and of
a local invitee) evaluated before the event is persisted, so its push actions are written in
the event's own transaction (DESIGN.md, "Shape": the push evaluator; spec: "Push Rules").

Rules and room states come from memory: a user's compiled rules are kept until their account
data moves (the notifier says so), a room's members and power levels are moved along by each
event. After the commit the listeners (unread counts, pusher delivery) are told."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any, Final

import orjson

from homeserver.account_data import AccountData
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.push.bulk import EventMatcher, RoomContext
from homeserver.push.evaluator import CompiledRule, PushEvaluator
from homeserver.push.index import Member, MemberIndex, SignatureGroup
from homeserver.push.room_state import RoomPushState, RoomPushStates
from homeserver.push.service import PushRules
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import MAIN_THREAD, Outcome, PushPlan, UserOutcome

log = logging.getLogger(__name__)

RULES_CACHE_SIZE: Final = 20_000
CommitListener = Callable[[Sequence[EventToPersist]], None]
Group = tuple[Outcome | None, list[UserID]]  # an outcome and the members who get it
# An outcome, the members who get it unless they have their own, and the same as a set.
Base = tuple[Outcome | None, tuple[UserID, ...], frozenset[UserID]]
ROSTERS_CACHED: Final = 2_000  # rooms
MEMBER_TUPLES_KEPT: Final = 256  # per room (see `_plan`)


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
        self._rosters: Lru[RoomID, _Roster] = Lru(ROSTERS_CACHED)
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
            found = await self._evaluate(event, state)
        except Exception:  # the event is stored all the same, and a join still counts
            log.exception("push rule evaluation failed; event stored without notifications")
            found = _Evaluated([], {}, None, None)
        plan = _plan(
            thread_of(event),
            found.bases,
            found.own,
            UserID(event.sender),
            found.invited,
            joined,
            left,
            found.cache,
        )
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

    async def _evaluate(self, event: Event, state: RoomPushState) -> _Evaluated:
        """The members evaluated one by one are those whose personal conditions may hold
        (see `push.index`), and those ignoring the sender."""
        context = RoomContext(state.version, len(state.joined), state.power_levels, state.create)
        matcher = EventMatcher(event, context)
        sender = event.sender
        roster = await self._roster(event.room_id, state)
        matches = roster.index.match(matcher, sender)
        own = {user: self.rule_outcome(rule) for user, rule in matches.own.items() if user != sender}
        for user in roster.ignoring.get(UserID(sender), ()):  # spec: "Ignoring Users"
            own[user] = None
        bases = [
            base
            for group, index in matches.groups
            for base in roster.fallback(group, index, self.rule_outcome)
        ]
        target = event.state_key
        invited = None
        if (
            event.type == "m.room.member"
            and event.membership == "invite"
            and target
            and self._states.is_local(target)
            and target not in state.local_names
        ):  # spec: .m.rule.invite_for_me
            invitee = UserID(target)
            rules = self._cached_rules(invitee) or await self._user_rules(invitee)
            invited = UserOutcome(invitee, self._outcome(matcher, sender, invitee, rules, None))
        return _Evaluated(bases, own, invited, roster.members)

    async def _roster(self, room_id: RoomID, state: RoomPushState) -> _Roster:
        """The room's local members indexed by their rules, built again when the room's state
        or a member's rules (or ignored users) moved."""
        roster = self._rosters.get(room_id)
        if roster is not None and roster.state is state and self._rules_current(roster):
            return roster
        rules = {user: self._cached_rules(user) or await self._user_rules(user) for user in state.local_names}
        roster = _Roster(state, rules, self._notifier.positions[Stream.ACCOUNT_DATA])
        self._rosters.put(room_id, roster)
        return roster

    def _rules_current(self, roster: _Roster) -> bool:
        """No member's account data moved since their rules were read. Asked again only once
        the stream's visible position moved (a change still above it is seen when it is
        visible)."""
        position = self._notifier.positions[Stream.ACCOUNT_DATA]
        if position == roster.checked:
            return True
        changed = self._notifier.changed_since
        if any(changed(Stream.ACCOUNT_DATA, user, rules.position) for user, rules in roster.rules.items()):
            return False
        roster.checked = position
        return True

    def _outcome(
        self, matcher: EventMatcher, sender: str, user_id: UserID, rules: _UserRules, name: str | None
    ) -> Outcome | None:
        if sender in rules.ignored:
            return None  # spec: "Ignoring Users", no notifications from them
        return self.rule_outcome(matcher.first_match(user_id, rules.evaluator, name))

    def rule_outcome(self, rule: CompiledRule | None) -> Outcome | None:
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
    """The plan of members grouped by outcome (see `_plan`)."""
    bases = [(outcome, tuple(users), frozenset(users)) for outcome, users in groups]
    return _plan(thread_id, bases, {}, None, invited, joined, left)


def _plan(
    thread_id: str,
    bases: Sequence[Base],
    own: dict[UserID, Outcome | None],
    sender: UserID | None,
    invited: UserOutcome | None,
    joined: UserID | None = None,
    left: UserID | None = None,
    members_cache: dict[Hashable, tuple[UserID, ...]] | None = None,
) -> PushPlan:
    """The plan: the most frequent outcome stored once, the others' each their own (an
    invitee's always: the event's row is for joined members only). The members of `bases`
    but `sender` and those in `own` (who have the outcome there) get the base's outcome. With
    a cache (whose bases' tuples live as long as it does), an event with the same outcome,
    bases, sender and exceptions as an earlier one shares its tuple of members (the unread
    counts keep a set per tuple)."""
    excluded = own.keys() | {sender} if sender is not None else own.keys()
    totals: dict[Outcome | None, int] = {}
    for outcome, _, users in bases:
        totals[outcome] = totals.get(outcome, 0) + len(users) - len(users & excluded)
    for outcome in own.values():
        totals[outcome] = totals.get(outcome, 0) + 1
    common = max(totals, key=totals.__getitem__) if totals else None
    members: tuple[UserID, ...] = ()
    if common is not None:
        shared = tuple(id(users) for outcome, users, _ in bases if outcome == common)
        key = (common, sender, frozenset(own.items()), shared)
        cached = members_cache.get(key) if members_cache is not None else None
        members = cached if cached is not None else _members(common, bases, own, excluded)
        if members_cache is not None and cached is None:
            if len(members_cache) >= MEMBER_TUPLES_KEPT:
                members_cache.clear()
            members_cache[key] = members
    others = [
        UserOutcome(user, outcome)
        for outcome, users, _ in bases
        if outcome != common
        for user in users
        if user not in excluded
    ]
    others += [UserOutcome(user, outcome) for user, outcome in own.items() if outcome != common]
    if invited is not None and invited.outcome is not None:
        others.append(invited)
    return PushPlan(thread_id, common, members, tuple(others), joined, left)


def _members(
    common: Outcome, bases: Sequence[Base], own: dict[UserID, Outcome | None], excluded: AbstractSet[UserID]
) -> tuple[UserID, ...]:
    parts = [
        users if not (user_set & excluded) else tuple(u for u in users if u not in excluded)
        for outcome, users, user_set in bases
        if outcome == common
    ]
    parts.append(tuple(user for user, outcome in own.items() if outcome == common))
    return tuple(chain.from_iterable(parts))


@dataclass(frozen=True)
class _Evaluated:
    """The local members (not the sender) by outcome: groups sharing one unless they are in
    `own`; and a local invitee's outcome. `cache`: the room's tuples of members (see `_plan`)."""

    bases: list[Base]
    own: dict[UserID, Outcome | None]
    invited: UserOutcome | None
    cache: dict[Hashable, tuple[UserID, ...]] | None


@dataclass(eq=False)
class _Roster:
    """A room's local members indexed by their rules, for one state of the room."""

    state: RoomPushState
    rules: dict[UserID, _UserRules]
    checked: int  # account data position when the rules were known current
    index: MemberIndex = field(init=False)
    ignoring: dict[UserID, list[UserID]] = field(init=False)  # ignored user -> members ignoring them
    members: dict[Hashable, tuple[UserID, ...]] = field(default_factory=dict)  # see `_plan`
    _fallbacks: dict[tuple[int, int | None], list[Base]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = self.state.local_names
        self.index = MemberIndex(
            Member(user, rules.evaluator, names.get(user)) for user, rules in self.rules.items()
        )
        self.ignoring = {}
        for user, rules in self.rules.items():
            for ignored in rules.ignored:
                self.ignoring.setdefault(ignored, []).append(user)

    def fallback(
        self,
        group: SignatureGroup,
        index: int | None,
        outcome: Callable[[CompiledRule | None], Outcome | None],
    ) -> list[Base]:
        """The group's members by the outcome of their own rule at `index`."""
        key = (id(group), index)
        found = self._fallbacks.get(key)
        if found is None:
            by_outcome: dict[Outcome | None, list[UserID]] = {}
            for member in group.members:
                rule = None if index is None else member.evaluator.rules[index]
                by_outcome.setdefault(outcome(rule), []).append(member.user_id)
            found = self._fallbacks[key] = [
                (o, tuple(users), frozenset(users)) for o, users in by_outcome.items()
            ]
        return found
