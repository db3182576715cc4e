"""The bounded least-recently-used map behind the server's in-memory caches."""

from __future__ import annotations

from homeserver.lru import Lru


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_none_values_are_held_and_pop_and_clear_forget() -> None:
    cache: Lru[str, int | None] = Lru(4)
    cache.put("nothing", None)
    assert "nothing" in cache and cache.get("nothing") is None
    cache.put("x", 1)
    cache.pop("x")
    cache.pop("never there")
    assert "x" not in cache
    cache.clear()
    assert len(cache) == 0
