"""Field paths of `event_fields`: escapes, nesting, and the event's own dicts never written."""

from __future__ import annotations

import copy

from homeserver.sync.event_format import select_fields, split_path


def test_split_path_with_escapes() -> None:
    assert split_path("content.body") == ("content", "body")
    assert split_path("content.m\\.relates_to") == ("content", "m.relates_to")
    assert split_path("a\\\\b.c") == ("a\\b", "c")
    assert split_path("type") == ("type",)
    assert split_path("content.") == ()  # an empty key names nothing
    assert split_path("") == ()


def test_select_fields_nests_and_skips_missing_paths() -> None:
    event = {"type": "t", "content": {"body": "b", "info": {"w": 1, "h": 2}}, "unsigned": {"age": 3}}
    paths = (("content", "info", "w"), ("content", "body"), ("type",), ("nope",), ("type", "deeper"))
    assert select_fields(event, paths) == {"type": "t", "content": {"body": "b", "info": {"w": 1}}}


def test_select_fields_broader_path_wins_and_source_is_untouched() -> None:
    event = {"content": {"body": "b", "msgtype": "m.text"}}
    before = copy.deepcopy(event)
    out = select_fields(event, (("content", "body"), ("content",)))  # longest first, as event_shape sorts
    assert out == {"content": {"body": "b", "msgtype": "m.text"}}
    assert event == before
