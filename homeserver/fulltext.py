"""Full-text search text handling, the same for SQLite and PostgreSQL.

Both databases index the same tokens: the text is NFKC-normalised and case-folded here, then
cut into runs of letters, digits and combining marks (any script). The databases only split
that on spaces (FTS5's `ascii` tokenizer, PostgreSQL's `simple` configuration), so a search
behaves the same on either: no stemming, no stop words, no language guess. Not `english`:
its stemming and stop words help English only, mangle other languages, would make words
such as "it", "who" or "will" unsearchable on PostgreSQL alone, and would make a server
answer differently after moving from SQLite to PostgreSQL. Whole words match (no prefixes).

A user's search term is parsed the way `websearch_to_tsquery` reads it: words are ANDed,
`"quoted words"` are phrases, `or` between words is OR, a leading `-` excludes a word or
phrase. Nothing from the user reaches a MATCH expression or a tsquery unquoted: the query is
built from the normalised tokens only."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from homeserver.errors import InvalidParam

MAX_TOKEN_CHARS = 200  # longer "words" are not indexed (PostgreSQL refuses lexemes > 2 KiB)
MAX_TERMS = 64  # words and phrases in one search term

_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_WORD_CATEGORIES = frozenset("LNM")  # letters, numbers, marks

Phrase = tuple[str, ...]


def normalise(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in _WORD_CATEGORIES


def _runs(text: str) -> Iterator[str]:
    """Maximal runs of word characters."""
    if text.isascii():
        yield from _ASCII_WORD.findall(text)
        return
    start = -1
    for i, char in enumerate(text):
        if _is_word_char(char):
            if start < 0:
                start = i
        elif start >= 0:
            yield text[start:i]
            start = -1
    if start >= 0:
        yield text[start:]


def tokens(text: str) -> list[str]:
    """The search tokens of a text, in order."""
    return [t for t in _runs(normalise(text)) if len(t) <= MAX_TOKEN_CHARS]


def index_text(text: str) -> str:
    """What the database indexes for a text: its tokens separated by single spaces."""
    return " ".join(tokens(text))


def surface_words(text: str, wanted: frozenset[str]) -> set[str]:
    """The words of `text`, as written, whose tokens include one of `wanted` (for highlights)."""
    found: set[str] = set()
    for i, word in enumerate(_runs(text)):
        if i > 10_000:
            break
        if any(t in wanted for t in tokens(word)):
            found.add(word)
    return found


@dataclass(frozen=True)
class Group:
    """Phrases that must all match, and phrases that must not."""

    include: tuple[Phrase, ...]
    exclude: tuple[Phrase, ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    """Groups joined by OR. Empty when the term has no searchable word."""

    groups: tuple[Group, ...]

    @property
    def is_empty(self) -> bool:
        return not self.groups

    def positive_tokens(self) -> frozenset[str]:
        return frozenset(t for g in self.groups for phrase in g.include for t in phrase)


def parse_query(term: str) -> SearchQuery:
    """Parse a user's search term; raises M_INVALID_PARAM past MAX_TERMS words."""
    groups: list[Group] = []
    include: list[Phrase] = []
    exclude: list[Phrase] = []
    count = 0
    for negated, quoted, text in _lex(term):
        if not quoted and not negated and text.lower() in ("or", "and"):
            if text.lower() == "or" and include:
                groups.append(Group(tuple(include), tuple(exclude)))
                include, exclude = [], []
            continue
        phrase = tuple(tokens(text))
        if not phrase:
            continue
        count += 1
        if count > MAX_TERMS:
            raise InvalidParam(f"search_term has more than {MAX_TERMS} words")
        (exclude if negated else include).append(phrase)
    if include:
        groups.append(Group(tuple(include), tuple(exclude)))
    return SearchQuery(tuple(groups))


def _lex(term: str) -> Iterator[tuple[bool, bool, str]]:
    """(negated, quoted, text) for each word or "phrase" of the term; an unclosed quote runs
    to the end."""
    i, n = 0, len(term)
    while i < n:
        char = term[i]
        if char.isspace():
            i += 1
            continue
        negated = char == "-" and i + 1 < n and not term[i + 1].isspace()
        if negated:
            i += 1
        if term[i] == '"':
            end = term.find('"', i + 1)
            end = n if end < 0 else end
            yield negated, True, term[i + 1 : end]
            i = end + 1
            continue
        start = i
        while i < n and not term[i].isspace() and term[i] != '"':
            i += 1
        yield negated, False, term[start:i]
