"""Stop words by language in use: text payload indexes and BM25 inference, as Qdrant applies them
(its StopwordsFilter: a language's list, or languages and custom words merged; lowercased with
the tokens when the index lowercases)."""

from __future__ import annotations

import pytest

from node.bm25 import Bm25
from node.errors import FormatError
from node.payload_index import FieldIndex, _Tokenizer, parse_field_schema
from node.stopwords import words_for


# -- text payload indexes ----------------------------------------------------------------------
def _tokens(params: dict, text: str) -> list[str]:
    return _Tokenizer(parse_field_schema({"type": "text", **params})).tokens(text)


def test_index_with_a_language():
    assert _tokens({"stopwords": "english"}, "The cat and THE dog") == ["cat", "dog"]
    assert _tokens({"stopwords": "russian"}, "Кошка и собака") == ["кошка", "собака"]
    assert _tokens({"stopwords": "chinese", "tokenizer": "whitespace"}, "我 的 猫") == ["猫"]


def test_index_merges_languages_and_custom():
    params = {"stopwords": {"languages": ["french", "german"], "custom": ["foo"]}}
    text = "Le chat und der Hund et foo FOO bar"
    assert _tokens(params, text) == ["chat", "hund", "bar"]
    assert _tokens({"stopwords": {"custom": ["foo"]}}, text) == [
        "le", "chat", "und", "der", "hund", "et", "bar"]


def test_lowercase_false_compares_as_written():
    params = {"lowercase": False, "stopwords": {"languages": ["german"], "custom": ["Foo"]}}
    # German's list is lowercase: "Der" stays, "der" goes; the custom "Foo" only as written
    assert _tokens(params, "Der der Foo foo FOO") == ["Der", "foo", "FOO"]
    # lowercased (the default): custom words are lowercased with the tokens
    assert _tokens({"stopwords": {"custom": ["Foo"]}}, "Foo foo FOO bar") == ["bar"]


def test_index_refuses_unknown_languages():
    with pytest.raises(FormatError, match="unknown variant `klingon`"):
        parse_field_schema({"type": "text", "stopwords": "klingon"})
    with pytest.raises(FormatError, match="unknown variant `klingon`"):
        parse_field_schema({"type": "text", "stopwords": {"languages": ["english", "klingon"]}})
    with pytest.raises(FormatError, match="expected a sequence"):
        parse_field_schema({"type": "text", "stopwords": {"languages": "english"}})


def test_aliases_are_stored_as_names():
    schema = parse_field_schema({"type": "text", "stopwords": "en"})
    assert schema["stopwords"] == "english"
    schema = parse_field_schema({"type": "text", "stopwords": {"languages": ["de"], "custom": []}})
    assert schema["stopwords"] == {"languages": ["german"], "custom": []}


def test_a_query_of_stopwords_only_matches_nothing():
    """Qdrant: an empty query token set is no match (text, text_any and phrase alike)."""
    index = FieldIndex("t", parse_field_schema({"type": "text", "stopwords": "english"}))
    for kind in ("text", "text_any", "phrase"):
        matcher = index.text_matcher(kind, "the and of")
        assert not matcher("the and of"), kind
        assert not matcher("the cat"), kind
    assert index.text_matcher("text", "the cat")("a cat")


# -- BM25 --------------------------------------------------------------------------------------
def test_bm25_default_stopwords_follow_the_language():
    french = Bm25({"language": "french"})
    assert "le" in french.stopwords and "the" not in french.stopwords
    assert french.tokens("le chat et le chien") == [
        french.stemmer.stemWord("chat"), french.stemmer.stemWord("chien")]
    assert Bm25({}).stopwords == words_for("english")
    assert Bm25({"language": "es"}).stopwords == words_for("spanish")


def test_bm25_language_without_a_list_drops_nothing():
    # Qdrant: no `stopwords` and a language it has no list for -> no stop words, no error
    assert Bm25({"language": "none"}).stopwords == frozenset()
    assert Bm25({"language": "tamil"}).stopwords == frozenset()


def test_bm25_explicit_stopwords():
    model = Bm25({"language": "english", "stopwords": {"languages": ["german"], "custom": ["X"]}})
    assert "und" in model.stopwords and "x" in model.stopwords and "the" not in model.stopwords
    assert Bm25({"stopwords": "turkish"}).stopwords == words_for("turkish")
    with pytest.raises(FormatError, match="unknown variant `klingon`"):
        Bm25({"stopwords": "klingon"})
