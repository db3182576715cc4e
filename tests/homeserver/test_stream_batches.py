"""StreamIdGenerator.allocate_many: a batch of positions stays in flight as one."""

from __future__ import annotations

from homeserver.storage.streams import StreamIdGenerator


def test_batch_positions_are_consecutive_and_visible_after_the_block() -> None:
    gen = StreamIdGenerator(10)
    with gen.allocate_many(3) as positions:
        assert list(positions) == [11, 12, 13]
        assert gen.current == 10
    assert gen.current == 13


def test_batch_holds_back_later_positions_until_it_ends() -> None:
    gen = StreamIdGenerator(0)
    with gen.allocate_many(2) as batch:
        with gen.allocate() as single:
            assert single == 3
        assert gen.current == 0  # 1 and 2 are still in flight
    assert list(batch) == [1, 2]
    assert gen.current == 3


def test_empty_batch_and_failed_batch() -> None:
    gen = StreamIdGenerator(5)
    with gen.allocate_many(0) as positions:
        assert len(positions) == 0
    assert gen.current == 5
    try:
        with gen.allocate_many(2):
            raise RuntimeError("the transaction failed")
    except RuntimeError:
        pass
    assert gen.current == 7  # the gap is skipped, never reused
    with gen.allocate() as position:
        assert position == 8
