"""What an event must hold for a personal push condition to be true: a word of its body, or a
value in one of its lists. Looking these up in an index of the members (`bulk.MemberIndex`)
finds the few members whose personal conditions may hold without asking every member.

A trigger is a necessary condition only: the members it finds are then evaluated in full.

Words: the body search (`glob.contains_words`, and a literal glob on `content.body`) is case
insensitive between word boundaries, a word character being [A-Za-z0-9_] as `re.IGNORECASE`
sees it, which also takes "İ", "ı", "ſ" and the Kelvin sign (they match "i", "s", "k"). Any
character that matches a word character that way is one, so where a text is found, each of
its maximal runs of word characters lies on a whole word of the body, and that word equals
the run once both are folded (`fold`). A text is therefore looked up by its first run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

_WORD: Final = re.compile("[A-Za-z0-9_]+", re.IGNORECASE)  # with the four non-ASCII ones
_FOLD: Final = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})

Path = tuple[str, ...]


@dataclass(frozen=True)
class Words:
    """The condition needs `text` in the body as words; None: the member's display name."""

    text: str | None


@dataclass(frozen=True)
class Contains:
    """The condition needs `value` (a JSON scalar) in the list at `path`."""

    path: Path
    value: Any


Trigger = Words | Contains
DISPLAY_NAME: Final = Words(None)


def fold(word: str) -> str:
    """A run of word characters as every run it matches case-insensitively folds too."""
    return word.lower() if word.isascii() else word.translate(_FOLD).lower()


def word_key(text: str) -> str | None:
    """The folded first run of word characters of a text, or None if it has none."""
    found = _WORD.search(text)
    return fold(found.group()) if found else None


def body_words(body: str) -> frozenset[str]:
    """The folded words of a body."""
    if body.isascii():
        return frozenset(_WORD.findall(body.lower()))
    return frozenset(fold(word) for word in _WORD.findall(body))


def value_key(value: Any) -> tuple[type, Any]:
    """A scalar as a key that tells 1, 1.0 and true apart (conditions compare types exactly)."""
    return type(value), value


def is_literal(pattern: str) -> bool:
    """A glob without wildcards: it matches words exactly as `contains_words` does."""
    return "*" not in pattern and "?" not in pattern
