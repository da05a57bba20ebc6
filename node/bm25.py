"""Local BM25 "inference": text → a sparse vector, as Qdrant's built-in `qdrant/bm25` model does it.

A document object ``{"text": …, "model": "qdrant/bm25", "options": {…}}`` is embedded on the
node, offline. Qdrant's pipeline (its server-side Bm25):

* tokenize with the text-index tokenizer (default ``word``: runs of Unicode letters/digits);
  per token: lowercase (default on), optional ASCII folding, drop stop words (Qdrant's list for
  the language, English by default, none for a language it has no list for), Snowball-stem (the
  language's stemmer, English by default), drop tokens outside ``min_token_len`` /
  ``max_token_len`` (in characters);
* a token's dimension is ``|murmur3_32(token UTF-8, seed 0) as i32|``;
* a document (upsert) gets, per distinct token, ``tf·(k+1) / (tf + k·(1 − b + b·len/avg_len))``
  computed in double precision then stored as float32, with ``len`` the number of kept tokens
  and k = 1.2, b = 0.75, avg_len = 256 unless the options say otherwise;
* a query gets 1.0 per distinct token.

The idf part of BM25 is the collection's ``modifier: idf`` on the sparse vector (applied at
query time by the search), not part of the embedding.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

import numpy as np

from node.errors import BadRequest, FormatError
from node.stopwords import canonical, words_for, words_of

MODEL = "qdrant/bm25"

_WORD = re.compile(r"[^\W_]+")


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of `data` (unsigned result)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(data)
    whole = n - n % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    rest = data[whole:]
    if rest:
        k = int.from_bytes(rest, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


@lru_cache(maxsize=200_000)
def token_id(token: str) -> int:
    """The sparse dimension of a token: |murmur3 as a signed 32-bit integer|."""
    h = murmur3_32(token.encode("utf-8"))
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return abs(signed)


def _fold_ascii(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=64)
def _stemmer(language: str):
    import snowballstemmer

    try:
        return snowballstemmer.stemmer(language)
    except KeyError:
        raise BadRequest(f"Unsupported stemmer language: {language}") from None


class Bm25:
    """One configured BM25 model (options parsed once; see ``model_for``)."""

    def __init__(self, options: dict | None) -> None:
        options = dict(options or {})
        try:
            self.k = float(options.get("k", 1.2) if options.get("k") is not None else 1.2)
            self.b = float(options.get("b", 0.75) if options.get("b") is not None else 0.75)
            avg = options.get("avg_len")
            self.avg_len = float(avg) if avg is not None else 256.0
        except (TypeError, ValueError):
            raise FormatError("invalid bm25 options: k, b and avg_len must be numbers") from None
        self.tokenizer = options.get("tokenizer") or "word"
        if self.tokenizer not in ("word", "whitespace", "prefix", "multilingual"):
            raise FormatError(
                f"unknown variant `{self.tokenizer}`, expected one of `prefix`, `whitespace`, "
                "`word`, `multilingual`"
            )
        language = options.get("language")
        language = str(language).lower() if language is not None else "english"
        lowercase = options.get("lowercase")
        self.lowercase = True if lowercase is None else bool(lowercase)
        self.ascii_folding = bool(options.get("ascii_folding") or False)
        self.min_len = options.get("min_token_len")
        self.max_len = options.get("max_token_len")
        # stemmer: given, or the language's Snowball stemmer ("none" / unknown: none)
        stemmer = options.get("stemmer")
        if stemmer is None:
            self.stemmer = None if language == "none" else _default_stemmer(language)
        elif isinstance(stemmer, dict) and stemmer.get("type") == "snowball":
            self.stemmer = _stemmer(str(stemmer.get("language", "english")).lower())
        elif isinstance(stemmer, dict) and stemmer.get("type") == "none":
            self.stemmer = None
        else:
            raise FormatError("invalid type for `stemmer`: expected {type: snowball|none, ...}")
        # stop words: given (a language, or {languages, custom}), or the language's list
        # (as Qdrant: with no `stopwords`, the list of `language` when it names one of Qdrant's
        # languages, else none; a `stopwords` given names languages that must exist)
        stop = options.get("stopwords")
        if stop is None:
            words = set(words_for(language)) if canonical(language) is not None else set()
        else:
            words = words_of(stop)
        self.stopwords = frozenset(w.lower() for w in words) if self.lowercase else frozenset(words)

    def tokens(self, text: str) -> list[str]:
        raw = text.split() if self.tokenizer == "whitespace" else _WORD.findall(text)
        out = []
        for token in raw:
            if self.lowercase:
                token = token.lower()
            if self.ascii_folding:
                token = _fold_ascii(token)
            if token in self.stopwords:
                continue
            if self.stemmer is not None:
                token = self.stemmer.stemWord(token)
            n = len(token)
            if self.min_len is not None and n < self.min_len:
                continue
            if self.max_len is not None and n > self.max_len:
                continue
            if token:
                out.append(token)
        return out

    def embed_document(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        tokens = self.tokens(text)
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        norm = self.k * (1.0 - self.b + self.b * len(tokens) / self.avg_len)
        weights: dict[int, float] = {}
        for token, count in counts.items():
            weights[token_id(token)] = count * (self.k + 1.0) / (norm + count)
        return _sparse(weights)

    def embed_query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        return _sparse({token_id(t): 1.0 for t in self.tokens(text)})


def _default_stemmer(language: str):
    try:
        return _stemmer(language)
    except BadRequest:
        return None


def _sparse(weights: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    indices = np.fromiter(weights.keys(), dtype=np.int64, count=len(weights))
    values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    order = np.argsort(indices, kind="stable")
    return indices[order].astype(np.uint32), values[order].astype(np.float32)


def is_document(raw: Any) -> bool:
    """A Document inference object: {"text": str, "model": str, "options"?}."""
    return (
        isinstance(raw, dict)
        and isinstance(raw.get("text"), str)
        and isinstance(raw.get("model"), str)
        and "indices" not in raw
    )


def is_inference_object(raw: Any) -> bool:
    """Any inference input: a Document, an Image or an InferenceObject."""
    return isinstance(raw, dict) and "model" in raw and (
        "text" in raw or "image" in raw or "object" in raw
    )


def model_for(raw: dict) -> Bm25:
    model = raw.get("model")
    if not isinstance(model, str) or model.lower() != MODEL or "text" not in raw:
        raise BadRequest(
            f"Inference model `{model}` is not available: this node runs only `{MODEL}` "
            "locally (on text documents), and no inference service is configured"
        )
    options = raw.get("options")
    if options is not None and not isinstance(options, dict):
        raise FormatError("invalid type for `options`: expected an object")
    return _model_cached(_options_key(options))


def _options_key(options: dict | None):
    if not options:
        return None
    import orjson

    return orjson.dumps(options, option=orjson.OPT_SORT_KEYS)


@lru_cache(maxsize=64)
def _model_cached(key):
    import orjson

    return Bm25(orjson.loads(key) if key is not None else None)


def embed(raw: dict, query: bool) -> tuple[np.ndarray, np.ndarray]:
    """A document object → (indices uint32 sorted, values float32)."""
    model = model_for(raw)
    return model.embed_query(raw["text"]) if query else model.embed_document(raw["text"])
