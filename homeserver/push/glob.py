"""Glob-style matching (spec appendix: `*` matches zero or more characters, `?` exactly one),
case-insensitive, against a whole value or against the words of a message body.

Push rule patterns come from users, so matching must not backtrack: the pattern is split at
each `*` into fixed-length segments, each segment is found at its earliest place after the
previous one (the earliest place always leaves the most room for the rest), and the last one
is pinned to the end. That costs at most (value length x pattern length), whatever the
pattern."""

from __future__ import annotations

import functools
import re
from typing import Final

# Spec: a word boundary is the start or end of the value or any character outside these.
WORD_CHARS: Final = "A-Za-z0-9_"
_FLAGS: Final = re.IGNORECASE | re.DOTALL
_NOT_AFTER_WORD: Final = f"(?<![{WORD_CHARS}])"
_NOT_BEFORE_WORD: Final = f"(?![{WORD_CHARS}])"


def _segment(glob: str) -> str:
    return "".join("." if char == "?" else re.escape(char) for char in glob)


class Glob:
    """A compiled glob pattern."""

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("*")
        sources = [_segment(part) for part in parts]
        self._lengths = [len(part) for part in parts]  # a segment matches that many characters
        self._segments = [re.compile(source, _FLAGS) for source in sources]
        # The longest literal piece, for a quick test before the word search (see `_may_hold`).
        pieces = [piece for part in parts for piece in part.split("?")]
        longest = max(pieces, key=len)
        self._needle = longest.lower() if longest and longest.isascii() else None
        if len(parts) == 1:
            self._word_only = re.compile(_NOT_AFTER_WORD + sources[0] + _NOT_BEFORE_WORD, _FLAGS)
        else:
            self._word_first = re.compile(_NOT_AFTER_WORD + sources[0], _FLAGS)
            self._word_last = re.compile(sources[-1] + _NOT_BEFORE_WORD, _FLAGS)

    def matches(self, value: str) -> bool:
        """Whether the pattern matches the entire value."""
        segments = self._segments
        if len(segments) == 1:
            return segments[0].fullmatch(value) is not None
        first = segments[0].match(value)
        if first is None:
            return False
        position = self._middle(value, first.end())
        last_start = len(value) - self._lengths[-1]
        return (
            position is not None
            and position <= last_start
            and bool(segments[-1].fullmatch(value, last_start))
        )

    def matches_words(self, value: str) -> bool:
        """Whether the pattern matches some part of the value that starts and ends at a word
        boundary (spec: `content.body` and content rules)."""
        if self._needle is not None and not _may_hold(value, self._needle):
            return False
        if len(self._segments) == 1:
            return self._word_only.search(value) is not None
        first = self._word_first.search(value)
        if first is None:
            return False
        position = self._middle(value, first.end())
        return position is not None and self._word_last.search(value, position) is not None

    def _middle(self, value: str, position: int) -> int | None:
        """Where the segments between the first and the last end, each placed earliest."""
        for segment in self._segments[1:-1]:
            found = segment.search(value, position)
            if found is None:
                return None
            position = found.end()
        return position


def contains_words(value: str, words: str) -> bool:
    """Whether `words` occurs in `value`, case-insensitively, between word boundaries."""
    if words.isascii() and not _may_hold(value, words.lower()):
        return False
    return _words_pattern(words).search(value) is not None


def _may_hold(value: str, needle: str) -> bool:
    """False when the ASCII, lower-case `needle` cannot occur in `value` whatever the case: a
    substring test is much cheaper than the case-insensitive regex search. Only for ASCII
    values: there re.IGNORECASE is ASCII case folding, while in Unicode text "K" (Kelvin) or
    "ſ" (long s) matches "k" or "s"."""
    return not value.isascii() or needle in value.lower()


@functools.lru_cache(maxsize=4096)  # a display name is looked for in every message of its rooms
def _words_pattern(words: str) -> re.Pattern[str]:
    return re.compile(_NOT_AFTER_WORD + re.escape(words) + _NOT_BEFORE_WORD, _FLAGS)
