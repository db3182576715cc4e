"""The /sync token: one position per notifier stream, in and out."""

from __future__ import annotations

import pytest

from homeserver.errors import InvalidParam
from homeserver.notifier import Stream
from homeserver.sync.tokens import SyncToken


def test_of_puts_each_stream_in_its_place_and_encode_parse_round_trips() -> None:
    positions = {stream: 10 * (i + 1) for i, stream in enumerate(Stream)}
    token = SyncToken.of(positions)
    assert all(token.get(stream) == positions[stream] for stream in Stream)
    assert SyncToken.parse(token.encode()) == token


@pytest.mark.parametrize("raw", ["", "s", "s1", "s1_", "s-1_2", "s1_2_3_4_5_6_7_8", "x1_2", "s1_٣", "s 1_2"])
def test_bad_tokens_are_refused(raw: str) -> None:
    with pytest.raises(InvalidParam):
        SyncToken.parse(raw)


def test_an_older_two_part_token_starts_the_other_streams_at_zero() -> None:
    assert SyncToken.parse("s5_6") == SyncToken(5, 6, 0, 0, 0, 0, 0)
