"""Qdrant's stop-word lists by language, for text payload indexes and BM25 inference.

The words are data files next to this module (``<language>.txt``, see README.md): Qdrant drops
exactly these words, so matching its filtering and its BM25 vectors needs exactly these lists.
A list is read on first use and kept (most nodes use one or two languages, if any).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from node.errors import FormatError

# The `Language` enum of Qdrant's OpenAPI, in its order (the order of its error messages).
LANGUAGES: tuple[str, ...] = (
    "arabic", "azerbaijani", "basque", "bengali", "catalan", "chinese", "danish", "dutch",
    "english", "finnish", "french", "german", "greek", "hebrew", "hinglish", "hungarian",
    "indonesian", "italian", "japanese", "kazakh", "nepali", "norwegian", "portuguese",
    "romanian", "russian", "slovene", "spanish", "swedish", "tajik", "turkish",
)

# Qdrant also accepts these short names for a language (serde aliases of its `Language`).
ALIASES: dict[str, str] = {
    "ar": "arabic", "az": "azerbaijani", "eu": "basque", "bn": "bengali", "ca": "catalan",
    "zh": "chinese", "da": "danish", "nl": "dutch", "en": "english", "fi": "finnish",
    "fr": "french", "de": "german", "el": "greek", "he": "hebrew", "hi-en": "hinglish",
    "hu": "hungarian", "id": "indonesian", "it": "italian", "jp": "japanese", "kk": "kazakh",
    "ne": "nepali", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sl": "slovene", "es": "spanish", "sv": "swedish", "tg": "tajik", "tr": "turkish",
}


def canonical(language: object) -> str | None:
    """The language's name (an alias resolved), or None when Qdrant has no such language.

    Case-sensitive, as Qdrant's deserialization is: "English" is not a language."""
    if not isinstance(language, str):
        return None
    if language in LANGUAGES:
        return language
    return ALIASES.get(language)


def words_for(language: str) -> frozenset[str]:
    """The stop words Qdrant drops for `language` (a name or an alias).

    An unknown language is a request that does not deserialize in Qdrant: refused with serde's
    wording, which names it."""
    name = canonical(language)
    if name is None:
        raise FormatError(
            f"unknown variant `{language}`, expected one of "
            + ", ".join(f"`{n}`" for n in LANGUAGES)
        )
    return _load(name)


def words_of(stop: object) -> set[str]:
    """The words a ``stopwords`` setting names: a language, or ``{languages, custom}`` merged
    (Qdrant's StopwordsInterface). Text indexes and BM25 read the setting alike."""
    if isinstance(stop, str):
        return set(words_for(stop))
    if not isinstance(stop, dict):
        raise FormatError("invalid type for `stopwords`")
    languages = stop.get("languages") or []
    if not isinstance(languages, list):
        raise FormatError("invalid type for `stopwords.languages`: expected a sequence")
    words: set[str] = set()
    for language in languages:
        words |= words_for(language)
    words.update(str(w) for w in stop.get("custom") or [])
    return words


def entries(language: str) -> list[str]:
    """The list as shipped (order and duplicates kept): what the data file's tests check."""
    name = canonical(language)
    if name is None:
        raise FormatError(f"unknown variant `{language}`")
    return _read(name)


@cache
def _load(name: str) -> frozenset[str]:
    return frozenset(_read(name))


def _read(name: str) -> list[str]:
    # One word per line; a word's own spaces or tabs are kept (Qdrant's lists have a few, and
    # such a word can never equal a token, exactly as in Qdrant).
    text = resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
