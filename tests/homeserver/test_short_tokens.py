"""ShortLivedTokens: OpenID and login tokens kept in memory as hashes, with a lifetime."""

from __future__ import annotations

import pytest

from homeserver.ids import UserID
from homeserver.short_tokens import ShortLivedTokens

ALICE, BOB = UserID("@alice:hs"), UserID("@bob:hs")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_000_000]
    monkeypatch.setattr("homeserver.short_tokens.now_ms", lambda: now[0])
    return now


def test_owner_until_expiry(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000)
    issued = tokens.issue(ALICE)
    assert issued.token.startswith("t_") and issued.expires_in_ms == 1000
    assert tokens.owner(issued.token) == ALICE
    assert tokens.owner(issued.token) == ALICE  # not used up by looking
    clock[0] += 999
    assert tokens.owner(issued.token) == ALICE
    clock[0] += 1
    assert tokens.owner(issued.token) is None


def test_consume_once(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000)
    token = tokens.issue(ALICE).token
    claim = tokens.consume(token)
    assert claim is not None and claim.grant.user_id == ALICE
    assert tokens.consume(token) is None
    tokens.restore(claim)
    assert tokens.owner(token) == ALICE
    clock[0] += 1000
    assert tokens.consume(token) is None


def test_restore_after_expiry_keeps_it_gone(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000)
    token = tokens.issue(ALICE).token
    claim = tokens.consume(token)
    assert claim is not None
    clock[0] += 1000
    tokens.restore(claim)
    assert len(tokens) == 0 and tokens.owner(token) is None


def test_unknown_and_implausible_tokens(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000)
    tokens.issue(ALICE)
    for token in ("", "t_nope", "x" * 10_000, "\ud800", "a\x00"):
        assert tokens.owner(token) is None
        assert tokens.consume(token) is None
    assert len(tokens) == 1


def test_expired_tokens_are_dropped_as_new_ones_come(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000)
    for _ in range(5):
        tokens.issue(ALICE)
    clock[0] += 1000
    tokens.issue(BOB)
    assert len(tokens) == 1


def test_bounded_memory_drops_the_oldest(clock: list[int]) -> None:
    tokens = ShortLivedTokens("t_", 1000, max_tokens=3)
    first = tokens.issue(ALICE).token
    rest = [tokens.issue(BOB).token for _ in range(3)]
    assert len(tokens) == 3
    assert tokens.owner(first) is None
    assert all(tokens.owner(token) == BOB for token in rest)
