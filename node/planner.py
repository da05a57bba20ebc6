"""From a filter to the allowed points of one shard, using its payload indexes.

The planner keeps the shard's field indexes up to date and answers "which live offsets pass
this filter" as a boolean mask. Conditions that an index answers exactly (top-level ``must``
conditions, ``has_id``, a ``should`` whose every condition is indexed) narrow the candidates
first; whatever is left of the filter is checked point by point on those candidates only. The
result never depends on the plan: it equals evaluating the whole filter on every point.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from node.errors import BadRequest
from node.filters import MATCH_ALL, compile_filter
from node.payload_index import BOOL, INTEGER, KEYWORD, UUID, FieldIndex, check_range_index

_CACHE_SIZE = 256


def _as_list(clause: Any) -> list:
    if clause is None:
        return []
    return clause if isinstance(clause, list) else [clause]


class FilterPlanner:
    def __init__(self, schema: dict[str, dict]) -> None:
        self.fields: dict[str, FieldIndex] = {k: FieldIndex(k, s) for k, s in schema.items()}
        self._compiled: OrderedDict[bytes, Any] = OrderedDict()

    # -- maintenance -------------------------------------------------------------------------
    def add(self, offset: int, payload: dict | None) -> None:
        for index in self.fields.values():
            index.add(offset, payload)

    def remove(self, offset: int, payload: dict | None) -> None:
        """Forget what `payload` (the one indexed at `offset`) put in the indexes."""
        for index in self.fields.values():
            index.remove(offset, payload)

    def remap(self, mapping: dict[int, int]) -> None:
        self.fields = {k: index.remap(mapping) for k, index in self.fields.items()}

    def set_schema(self, schema: dict[str, dict], payloads: list, live: np.ndarray) -> None:
        """Build indexes that are new or changed, drop the ones no longer wanted."""
        fields = {}
        for key, field_schema in schema.items():
            current = self.fields.get(key)
            if current is not None and current.schema == field_schema:
                fields[key] = current
                continue
            index = FieldIndex(key, field_schema)
            for offset in np.flatnonzero(live):
                index.add(int(offset), payloads[offset])
            fields[key] = index
        self.fields = fields
        self._compiled.clear()

    def schema_info(self) -> dict:
        return {key: index.points_count for key, index in self.fields.items()}

    # -- filters -----------------------------------------------------------------------------
    def _text_lookup(self, key: str, kind: str, query: str):
        index = self.fields.get(key)
        return index.text_matcher(kind, query) if index is not None else None

    def compile(self, filter_: dict | None):
        """The filter's predicate (None for no filter or one that matches everything)."""
        if filter_ is None:
            return None
        cache_key = orjson.dumps(filter_, option=orjson.OPT_SORT_KEYS)
        if cache_key in self._compiled:
            self._compiled.move_to_end(cache_key)
            return self._compiled[cache_key]
        predicate = compile_filter(filter_, self._text_lookup)
        if predicate is MATCH_ALL:
            predicate = None
        self._compiled[cache_key] = predicate
        if len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return predicate

    def _condition_offsets(self, condition: Any, id_to_offset: dict) -> tuple | None:
        """(offsets, exact) an index or the id map gives for one condition, or None."""
        if not isinstance(condition, dict):
            return None
        if set(condition) == {"has_id"} and isinstance(condition["has_id"], list):
            from node.ids import parse_point_id

            try:
                ids = [parse_point_id(v) for v in condition["has_id"]]
            except Exception:
                return None
            offsets = [id_to_offset[i] for i in ids if i in id_to_offset]
            return np.asarray(offsets, dtype=np.int64), True
        key = condition.get("key")
        index = self.fields.get(key) if isinstance(key, str) else None
        return index.answer(condition) if index is not None else None

    def _index_candidates(
        self, filter_: dict, id_to_offset: dict
    ) -> tuple[np.ndarray | None, bool]:
        """(offsets the indexed part allows, or None; whether a point-by-point check remains)."""
        if set(filter_) - {"must", "should", "must_not", "min_should"}:
            return None, True
        candidates: np.ndarray | None = None
        residual = bool(_as_list(filter_.get("must_not"))) or filter_.get("min_should") is not None
        for condition in _as_list(filter_.get("must")):
            answer = self._condition_offsets(condition, id_to_offset)
            if answer is None:
                residual = True
                continue
            offsets, exact = answer
            residual |= not exact
            candidates = offsets if candidates is None else np.intersect1d(candidates, offsets)
        should = _as_list(filter_.get("should"))
        if should:
            answers = [self._condition_offsets(c, id_to_offset) for c in should]
            if all(a is not None for a in answers):
                residual |= not all(exact for _, exact in answers)
                parts = [offsets for offsets, _ in answers]
                union = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
                candidates = union if candidates is None else np.intersect1d(candidates, union)
            else:
                residual = True
        return candidates, residual

    def allowed_mask(
        self, filter_: dict | None, live: np.ndarray, id_to_offset: dict, matches: Callable
    ) -> np.ndarray:
        """Mask over offsets: live points that pass the filter. `matches(pred, offset)` checks
        one point with the compiled predicate."""
        mask = live.copy()
        predicate = self.compile(filter_)
        if predicate is None:
            return mask
        candidates, residual = self._index_candidates(filter_, id_to_offset)
        if candidates is not None:
            narrowed = np.zeros_like(mask)
            candidates = candidates[candidates < len(mask)]
            narrowed[candidates] = True
            mask &= narrowed
            if not residual:
                return mask
        for offset in np.flatnonzero(mask):
            if not matches(predicate, int(offset)):
                mask[offset] = False
        return mask

    # -- facet and order_by ------------------------------------------------------------------
    def facet(self, key: str, mask: np.ndarray) -> dict:
        index = self.fields.get(key)
        if index is None or index.type not in (KEYWORD, INTEGER, BOOL, UUID):
            raise BadRequest(
                f"Index required but not found for \"{key}\" of one of the following types: "
                "[keyword, integer, bool, uuid]. Help: Create an index for this key or use a "
                "different filter."
            )
        counts: dict = {}
        for value in list(index._postings):
            offsets = index._posting(value)
            offsets = offsets[offsets < len(mask)]
            n = int(np.count_nonzero(mask[offsets]))
            if n:
                counts[value] = n
        return counts

    def ordered(self, key: str, mask: np.ndarray, descending: bool, start_from: float | None):
        """(value, offset) pairs of allowed points in order of the key's values."""
        index = self.fields.get(key)
        check_range_index(index, key)
        values, offsets = index._sorted_values()
        keep = offsets < len(mask)
        values, offsets = values[keep], offsets[keep]
        keep = mask[offsets]
        values, offsets = values[keep], offsets[keep]
        if descending:
            values, offsets = values[::-1], offsets[::-1]
        if start_from is not None:
            keep = values <= start_from if descending else values >= start_from
            values, offsets = values[keep], offsets[keep]
        return values, offsets, index.type
