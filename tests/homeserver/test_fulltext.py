"""Search tokens and the parsing of users' search terms (homeserver/fulltext.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.errors import InvalidParam
from homeserver.fulltext import MAX_TERMS, Group, SearchQuery, index_text, parse_query, surface_words, tokens


def test_tokens_are_case_folded_runs_of_letters_digits_and_marks() -> None:
    assert tokens("Hello, World! foo-bar_baz 3.14") == ["hello", "world", "foo", "bar", "baz", "3", "14"]
    assert tokens("Straße ǅemal ﬁne") == ["strasse", "džemal", "fine"]
    assert tokens("cafe\u0301 café") == ["café", "café"]  # composed
    assert tokens("किताब 東京タワー") == ["किताब", "東京タワー"]  # marks stay inside words
    assert tokens("a\x00b\u200bc") == ["a", "b", "c"]
    assert tokens("x" * 201 + " ok") == ["ok"]  # over-long words are not indexed
    assert index_text("  Many   SPACES\there ") == "many spaces here"


def test_parse_words_phrases_or_and_exclusions() -> None:
    assert parse_query("red apple") == SearchQuery((Group((("red",), ("apple",))),))
    assert parse_query('"red apple" pie') == SearchQuery((Group((("red", "apple"), ("pie",))),))
    assert parse_query("pear OR pie and tart") == SearchQuery(
        (Group((("pear",),)), Group((("pie",), ("tart",))))
    )
    assert parse_query('apple -wine -"red wine"') == SearchQuery(
        (Group((("apple",),), (("wine",), ("red", "wine"))),)
    )
    assert parse_query("foo-bar") == SearchQuery((Group((("foo", "bar"),)),))  # one phrase
    assert parse_query('"unclosed phrase') == SearchQuery((Group((("unclosed", "phrase"),)),))


@pytest.mark.parametrize("term", ["", "   ", "-only", "or", "OR and", '"', '""', "!!! ...", "- -", "\x00"])
def test_terms_without_anything_to_search_for(term: str) -> None:
    assert parse_query(term).is_empty


def test_a_group_of_only_exclusions_is_dropped() -> None:
    assert parse_query("apple or -pear") == SearchQuery((Group((("apple",),)),))


def test_positive_tokens_are_what_highlights_start_from() -> None:
    assert parse_query('a "b c" -d or e').positive_tokens() == {"a", "b", "c", "e"}


def test_too_many_words_are_refused() -> None:
    parse_query("w " * MAX_TERMS)
    with pytest.raises(InvalidParam):
        parse_query("w " * (MAX_TERMS + 1))


def test_surface_words_keep_the_text_as_written() -> None:
    assert surface_words("Hello HELLO hello-world, Straße", frozenset({"hello", "strasse"})) == {
        "Hello",
        "HELLO",
        "hello",
        "Straße",
    }


@given(st.text(max_size=200))
def test_any_term_parses_to_tokens_only(term: str) -> None:
    try:
        query = parse_query(term)
    except InvalidParam:
        return
    for group in query.groups:
        assert group.include
        for phrase in (*group.include, *group.exclude):
            assert phrase
            for token in phrase:
                assert token and tokens(token) == [token]  # nothing but one whole token
