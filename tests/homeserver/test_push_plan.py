"""How the planner stores an event's outcomes (push.planner.plan_of): the largest group's
outcome once for its members, every other member's as their own, an invitee's always their
own (the event's row is for joined members), and a join or leave carried along."""

from __future__ import annotations

from homeserver.ids import UserID
from homeserver.push.planner import plan_of
from homeserver.storage.push import Outcome, UserOutcome

A, B, C, D = (UserID(f"@{n}:example.org") for n in "abcd")
NOTIFY = Outcome(False, '["notify"]')
MENTION = Outcome(True, '["notify",{"set_tweak":"highlight"}]')


def test_the_largest_group_is_stored_once_and_the_others_as_their_own() -> None:
    plan = plan_of("main", [(MENTION, [A]), (NOTIFY, [B, C]), (None, [D])], None)
    assert (plan.common, plan.members) == (NOTIFY, (B, C))
    assert set(plan.own) == {UserOutcome(A, MENTION), UserOutcome(D, None)}
    assert dict(plan.notified()) == {A: MENTION, B: NOTIFY, C: NOTIFY}


def test_when_most_are_not_notified_only_the_notified_have_rows() -> None:
    plan = plan_of("$root", [(None, [B, C]), (MENTION, [A])], None)
    assert (plan.common, plan.members) == (None, ())
    assert plan.own == (UserOutcome(A, MENTION),)  # the others: no row at all
    assert dict(plan.notified()) == {A: MENTION}


def test_an_invitee_is_their_own_even_with_the_common_outcome_and_joins_are_kept() -> None:
    invite = Outcome(False, '["notify",{"set_tweak":"sound","value":"default"}]')
    plan = plan_of("main", [(invite, [A, B])], UserOutcome(D, invite), joined=C)
    assert plan.members == (A, B) and plan.own == (UserOutcome(D, invite),) and plan.joined == C
    nobody = plan_of("main", [], UserOutcome(D, None), left=C)
    assert (nobody.common, nobody.own, nobody.left) == (None, (), C)
