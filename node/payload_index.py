"""Payload indexes of one shard: per indexed field, the offsets that hold each value.

An index answers the conditions it can answer exactly (match value / any, range, datetime range,
geo box / radius, full-text) with the offsets that satisfy them, and tells how many points it
covers; the shard's planner uses that to pick few candidates before anything is scored. Stale
offsets (dead points) may stay in an index: the planner always intersects with the live mask.
A full-text index also supplies the tokenized matcher that the filter uses for indexed keys.

Indexes live in memory and are rebuilt from the payloads when a shard opens; their definitions
are collection metadata.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from pyroaring import BitMap

from node.datetimes import parse_datetime
from node.errors import BadRequest, FormatError
from node.payload_path import get_values
from node.stopwords import canonical, words_of

KEYWORD, INTEGER, FLOAT, BOOL, GEO, TEXT, DATETIME, UUID = (
    "keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid",
)
# types indexed as value -> offsets only (no per-point record: removal re-reads the payload)
_POSTING_TYPES = (KEYWORD, UUID, INTEGER, BOOL, TEXT)
SCHEMA_TYPES = (KEYWORD, INTEGER, FLOAT, BOOL, GEO, TEXT, DATETIME, UUID)
_EARTH_RADIUS_M = 6371008.8


def parse_field_schema(raw: Any) -> dict:
    """A field_schema as given (a type name or a params object) → {"type": ..., **params}."""
    if isinstance(raw, str):
        if raw not in SCHEMA_TYPES:
            raise FormatError(
                f"unknown variant `{raw}`, expected one of "
                + ", ".join(f"`{t}`" for t in SCHEMA_TYPES)
            )
        return {"type": raw}
    if isinstance(raw, dict) and raw.get("type") in SCHEMA_TYPES:
        schema = {k: v for k, v in raw.items() if v is not None}
        if schema["type"] == TEXT:
            _Tokenizer(schema)  # refuses what it cannot apply (a stemmer or stopword language)
            if "stopwords" in schema:
                schema["stopwords"] = _language_names(schema["stopwords"])
        return schema
    raise FormatError("field_schema must be a type name or an object with a known `type`")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _language_names(stop: Any) -> Any:
    """`stopwords` with its language aliases ("en") written as names ("english"): Qdrant keeps
    the language, not the spelling, and gRPC peers expect names. Otherwise as given."""
    if isinstance(stop, str):
        return canonical(stop) or stop
    if isinstance(stop, dict) and isinstance(stop.get("languages"), list):
        return {**stop, "languages": [canonical(x) or x for x in stop["languages"]]}
    return stop


def _stemmer(config: Any):
    """A Snowball stemmer for {"type": "snowball", "language": ...}, or None."""
    if not isinstance(config, dict) or config.get("type") != "snowball":
        return None
    import snowballstemmer

    language = str(config.get("language", "english")).lower()
    try:
        return snowballstemmer.stemmer(language)
    except KeyError:
        raise BadRequest(f"Unsupported stemmer language: {language}") from None


class _Tokenizer:
    """Qdrant's text pipeline: split, lowercase, drop by length and stop words, stem."""

    def __init__(self, params: dict) -> None:
        self.kind = params.get("tokenizer", "word")
        self.lowercase = params.get("lowercase", True)
        self.min_len = params.get("min_token_len")
        self.max_len = params.get("max_token_len")
        # Qdrant's StopwordsFilter: a language's list, or {languages, custom} merged; lowercased
        # with the tokens when `lowercase` (the default), else compared as written
        stop = params.get("stopwords")
        if stop is None:
            words: set[str] = set()
        elif isinstance(stop, list):  # a bare list of words
            words = {str(w) for w in stop}
        else:
            words = words_of(stop)
        self.stopwords = {w.lower() for w in words} if self.lowercase else words
        self.stemmer = _stemmer(params.get("stemmer"))

    def tokens(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.kind == "whitespace":
            raw = text.split()
        else:  # word, multilingual, prefix: runs of letters and digits (`_` splits too)
            raw = re.findall(r"[^\W_]+", text)
        out = []
        for token in raw:
            if self.min_len and len(token) < self.min_len:
                continue
            if self.max_len and len(token) > self.max_len:
                continue
            if token in self.stopwords:
                continue
            out.append(self.stemmer.stemWord(token) if self.stemmer is not None else token)
        return out

    def doc_terms(self, text: str) -> set[str]:
        tokens = self.tokens(text)
        if self.kind != "prefix":
            return set(tokens)
        terms = set()
        for token in tokens:
            for end in range(1, len(token) + 1):
                terms.add(token[:end])
        return terms


class FieldIndex:
    """One indexed payload key."""

    def __init__(self, key: str, schema: dict) -> None:
        self.key = key
        self.schema = schema
        self.type = schema["type"]
        self._values: dict[int, tuple] = {}  # offset -> values, for the non-posting types
        self._postings: dict[Any, BitMap] = {}  # value -> offsets holding it
        self._count = 0  # points holding at least one indexed value
        self._arrays: dict[Any, np.ndarray] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._geo: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.tokenizer = _Tokenizer(schema) if self.type == TEXT else None

    # -- maintenance -------------------------------------------------------------------------
    def _extract(self, payload: dict | None) -> tuple:
        values = get_values(payload or {}, self.key)
        t = self.type
        if t in (KEYWORD, UUID):
            return tuple(v.lower() if t == UUID else v for v in values if isinstance(v, str))
        if t == INTEGER:
            return tuple(v for v in values if _is_int(v))
        if t == FLOAT:
            return tuple(float(v) for v in values if _number(v) is not None)
        if t == BOOL:
            return tuple(v for v in values if isinstance(v, bool))
        if t == DATETIME:
            stamps = (parse_datetime(v) for v in values if isinstance(v, str))
            return tuple(s for s in stamps if s is not None)
        if t == GEO:
            out = []
            for v in values:
                if (
                    isinstance(v, dict)
                    and _number(v.get("lon")) is not None
                    and _number(v.get("lat")) is not None
                ):
                    out.append((float(v["lon"]), float(v["lat"])))
            return tuple(out)
        if t == TEXT:
            terms: set[str] = set()
            for v in values:
                if isinstance(v, str):
                    terms |= self.tokenizer.doc_terms(v)
            return tuple(sorted(terms))
        return ()

    def _other_numbers(self, payload: dict | None) -> tuple:
        """Non-integer numbers under an integer index's key: a range condition sees them."""
        if self.type != INTEGER:
            return ()
        values = get_values(payload or {}, self.key)
        return tuple(float(v) for v in values if isinstance(v, float))

    def add(self, offset: int, payload: dict | None) -> None:
        others = self._other_numbers(payload)
        if others:
            self._values[offset] = others
            self._sorted = None
        values = self._extract(payload)
        if not values:
            return
        self._count += 1
        if self.type in _POSTING_TYPES:
            for v in set(values):
                posting = self._postings.get(v)
                if posting is None:
                    posting = self._postings[v] = BitMap()
                posting.add(offset)
                self._arrays.pop(v, None)
        else:
            self._values[offset] = values
        self._sorted = None
        self._geo = None

    def remove(self, offset: int, payload: dict | None) -> None:
        """Undo `add(offset, payload)` (payload: what was indexed at offset)."""
        if self.type == INTEGER and self._values.pop(offset, None) is not None:
            self._sorted = None
        values = self._extract(payload)
        if not values:
            return
        self._count -= 1
        if self.type in _POSTING_TYPES:
            for v in set(values):
                posting = self._postings.get(v)
                if posting is not None:
                    posting.discard(offset)
                    if not posting:
                        del self._postings[v]
                self._arrays.pop(v, None)
        else:
            self._values.pop(offset, None)
        self._sorted = None
        self._geo = None

    def remap(self, mapping: dict[int, int]) -> FieldIndex:
        """The same index over new offsets (after vacuum); offsets not in mapping are dropped."""
        fresh = FieldIndex(self.key, self.schema)
        for old, values in self._values.items():
            new = mapping.get(old)
            if new is not None:
                fresh._values[new] = values
        for value, posting in self._postings.items():
            moved = BitMap(mapping[o] for o in posting if o in mapping)
            if moved:
                fresh._postings[value] = moved
        if self.type in _POSTING_TYPES:
            owners = BitMap()
            for posting in fresh._postings.values():
                owners |= posting
            fresh._count = len(owners)
        else:
            fresh._count = len(fresh._values)
        return fresh

    @property
    def points_count(self) -> int:
        return self._count

    # -- lookups -----------------------------------------------------------------------------
    def _posting(self, value: Any) -> np.ndarray:
        array = self._arrays.get(value)
        if array is None:
            posting = self._postings.get(value)
            array = (
                np.empty(0, np.int64) if posting is None
                else np.frombuffer(posting.to_array(), dtype=np.uint32).astype(np.int64)
            )
            self._arrays[value] = array
        return array

    def _union(self, values: Iterable) -> np.ndarray:
        parts = [self._posting(v) for v in values]
        parts = [p for p in parts if len(p)]
        if not parts:
            return np.empty(0, np.int64)
        return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))

    def _sorted_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            if self.type in _POSTING_TYPES:  # integers: the postings, and the other numbers
                offsets = [o for posting in self._postings.values() for o in posting]
                values = [float(v) for v, posting in self._postings.items() for _ in posting]
                offsets += [o for o, vs in self._values.items() for _ in vs]
                values += [v for vs in self._values.values() for v in vs]
            else:
                offsets = [o for o, vs in self._values.items() for _ in vs]
                values = [float(v) for vs in self._values.values() for v in vs]
            order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
            self._sorted = (
                np.asarray(values, dtype=np.float64)[order],
                np.asarray(offsets, dtype=np.int64)[order],
            )
        return self._sorted

    def range_offsets(
        self, lo: float | None, lo_incl: bool, hi: float | None, hi_incl: bool
    ) -> np.ndarray:
        values, offsets = self._sorted_values()
        start = (
            0 if lo is None else np.searchsorted(values, lo, side="left" if lo_incl else "right")
        )
        end = (
            len(values)
            if hi is None
            else np.searchsorted(values, hi, side="right" if hi_incl else "left")
        )
        return np.unique(offsets[start:end])

    def _geo_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._geo is None:
            offsets = [o for o, vs in self._values.items() for _ in vs]
            lons = [p[0] for vs in self._values.values() for p in vs]
            lats = [p[1] for vs in self._values.values() for p in vs]
            self._geo = (
                np.asarray(offsets, np.int64),
                np.asarray(lons, np.float64),
                np.asarray(lats, np.float64),
            )
        return self._geo

    def facet_values(self) -> dict:
        return {v: len(p) for v, p in self._postings.items()}

    # -- conditions --------------------------------------------------------------------------
    def answer(self, condition: dict) -> tuple[np.ndarray, bool] | None:
        """(offsets, exact) for a field condition on this key, or None if this index cannot
        narrow it. When not exact the offsets are a superset: the planner checks them point by
        point."""
        offsets = self._answer(condition)
        if offsets is None:
            return None
        match = condition.get("match") if isinstance(condition.get("match"), dict) else {}
        # all query words must be in *one* string of the point: postings pool a point's strings
        exact = not (self.type == TEXT and "text" in match)
        return offsets, exact

    def _answer(self, condition: dict) -> np.ndarray | None:
        extra = set(condition) - {"key", "match", "range", "geo_bounding_box", "geo_radius"}
        if extra:
            return None
        parts = [
            k
            for k in ("match", "range", "geo_bounding_box", "geo_radius")
            if k in condition and condition[k] is not None
        ]
        if len(parts) != 1:
            return None
        kind = parts[0]
        spec = condition[kind]
        if not isinstance(spec, dict):
            return None
        t = self.type
        if kind == "match":
            if "value" in spec and len(spec) == 1:
                value = spec["value"]
                if t == KEYWORD and isinstance(value, str):
                    return self._posting(value)
                if t == UUID and isinstance(value, str):
                    return self._posting(value.lower())
                if t == INTEGER and _is_int(value) and self.schema.get("lookup", True):
                    return self._posting(value)
                if t == BOOL and isinstance(value, bool):
                    return self._posting(value)
                return None
            if "any" in spec and len(spec) == 1 and isinstance(spec["any"], list):
                values = spec["any"]
                if t == KEYWORD and all(isinstance(v, str) for v in values):
                    return self._union(values)
                if (
                    t == INTEGER
                    and all(_is_int(v) for v in values)
                    and self.schema.get("lookup", True)
                ):
                    return self._union(values)
                return None
            if t == TEXT and len(spec) == 1 and isinstance(spec.get("text"), str):
                terms = self.tokenizer.tokens(spec["text"])
                if not terms:
                    return np.empty(0, np.int64)
                result = None
                for term in terms:
                    posting = self._posting(term)
                    result = posting if result is None else np.intersect1d(result, posting)
                return result
            if t == TEXT and len(spec) == 1 and isinstance(spec.get("text_any"), str):
                terms = self.tokenizer.tokens(spec["text_any"])
                return self._union(terms)
            return None
        if kind == "range":
            bounds = {k: spec.get(k) for k in ("gt", "gte", "lt", "lte") if spec.get(k) is not None}
            if t in (INTEGER, FLOAT) and (t == FLOAT or self.schema.get("range", True)):
                if not all(_number(v) is not None for v in bounds.values()):
                    return None
                conv = {k: float(v) for k, v in bounds.items()}
            elif t == DATETIME:
                conv = {}
                for k, v in bounds.items():
                    stamp = parse_datetime(v) if isinstance(v, str) else None
                    if stamp is None:
                        return None
                    conv[k] = float(stamp)
            else:
                return None
            lo, lo_incl = (conv["gte"], True) if "gte" in conv else (conv.get("gt"), False)
            if "gte" in conv and "gt" in conv:
                lo, lo_incl = (
                    (conv["gt"], False) if conv["gt"] >= conv["gte"] else (conv["gte"], True)
                )
            hi, hi_incl = (conv["lte"], True) if "lte" in conv else (conv.get("lt"), False)
            if "lte" in conv and "lt" in conv:
                hi, hi_incl = (
                    (conv["lt"], False) if conv["lt"] <= conv["lte"] else (conv["lte"], True)
                )
            if any(isinstance(x, float) and math.isnan(x) for x in (lo, hi) if x is not None):
                return None
            return self.range_offsets(lo, lo_incl, hi, hi_incl)
        if t != GEO:
            return None
        offsets, lons, lats = self._geo_arrays()
        try:
            if kind == "geo_bounding_box":
                tl, br = spec["top_left"], spec["bottom_right"]
                left, top, right, bottom = (
                    float(tl["lon"]),
                    float(tl["lat"]),
                    float(br["lon"]),
                    float(br["lat"]),
                )
                in_lat = (lats < top) & (lats > bottom)
                if left <= right:
                    in_lon = (lons > left) & (lons < right)
                else:  # crosses the antimeridian
                    in_lon = (lons > left) | (lons < right)
                return np.unique(offsets[in_lat & in_lon])
            center, radius = spec["center"], float(spec["radius"])
            lon0, lat0 = math.radians(float(center["lon"])), math.radians(float(center["lat"]))
        except (KeyError, TypeError, ValueError):
            return None
        lon1, lat1 = np.radians(lons), np.radians(lats)
        a = (
            np.sin((lat1 - lat0) / 2) ** 2
            + np.cos(lat0) * np.cos(lat1) * np.sin((lon1 - lon0) / 2) ** 2
        )
        meters = 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
        return np.unique(offsets[meters < radius])

    def text_matcher(self, kind: str, query: str):
        """For the filter: does one string value match `query` the way this index tokenizes?"""
        if self.type != TEXT:
            return None
        terms = self.tokenizer.tokens(query)
        tokenizer = self.tokenizer

        if kind == "text":
            wanted = set(terms)
            return lambda value: bool(wanted) and wanted <= tokenizer.doc_terms(value)
        if kind == "text_any":
            wanted = set(terms)
            return lambda value: bool(wanted & tokenizer.doc_terms(value))
        if kind == "phrase":
            def phrase(value: str) -> bool:
                tokens = tokenizer.tokens(value)
                n = len(terms)
                return n > 0 and any(tokens[i : i + n] == terms for i in range(len(tokens) - n + 1))

            return phrase
        return None


def check_range_index(index: FieldIndex | None, key: str) -> None:
    """order_by needs an index that supports ranges, as in Qdrant."""
    if index is None or index.type not in (INTEGER, FLOAT, DATETIME) or (
        index.type == INTEGER and not index.schema.get("range", True)
    ):
        raise BadRequest(
            f"No range index for `order_by` key: `{key}`. Please create one to use `order_by`. "
            "Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see "
            "which payload schemas support Range conditions"
        )
