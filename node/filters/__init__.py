"""Qdrant filters: parse the JSON filter once into nested closures, then test points with it.

``compile_filter(f)`` returns ``pred(point_id, payload, has_vector) -> bool`` (or ``None`` for no
filter). ``point_id`` is an ``int`` or a lowercase hyphenated UUID ``str``; ``has_vector(name)``
says whether the point has that named vector (``""`` is the unnamed one).

Semantics (Qdrant 1.19):

* ``must`` — all hold; ``must_not`` — none holds; ``should`` — at least one holds;
  ``min_should {conditions, min_count}`` — at least ``min_count`` hold. Each clause takes one
  condition or a list. An *empty* clause (``should: []``, ``min_should.conditions: []``) is no
  constraint; ``{}`` matches every point.
* A condition is a field condition (``{"key": ..., "match"|"range"|...}``), ``is_empty``,
  ``is_null``, ``has_id``, ``has_vector``, ``slice``, ``nested`` or a filter (``{"must": ...}``).
* Field conditions read the values the key reaches (see ``node.payload_path``); an array value
  is looked into one level; the condition holds when any value / element satisfies it. When a
  field condition has several parts (``match`` and ``range``...), an element satisfying any part
  is enough; ``values_count``, ``is_empty`` and ``is_null`` (in that order) take precedence.
* ``match.value`` is exact and typed: a string matches strings, an integer matches integer values
  (not ``1.0``, not ``true``), a bool matches bools. ``any`` / ``except`` take a list of strings or
  of integers. ``except`` holds for a value of another type and never for ``null`` or a missing
  key (or an empty array).
* ``text`` / ``text_any`` / ``phrase`` on a field without a full-text index: by default (Qdrant
  1.19.1+) both sides are split into words (runs of letters and digits) and lowercased; ``text``
  needs every query word, ``text_any`` one of them, ``phrase`` all of them consecutively. An
  empty query matches nothing. ``unindexed_text="substring"`` gives Qdrant 1.19.0's behaviour
  (case-sensitive substring, ``text_any`` = any whitespace-separated part is a substring).
  ``text_index_lookup(key, kind, query)`` lets the storage supply the matcher for an indexed key.
* ``prefix``: string values starting with the prefix (case-sensitive).
* ``range``: numbers (integers and floats, not bools), compared as float64. With string bounds it
  is a datetime range over datetime-string values (see ``node.datetimes``).
* ``values_count``: a value counts its array length, 1 for a scalar, 0 for ``null``; a missing
  key counts 0.
* ``geo_bounding_box`` (strict, antimeridian aware), ``geo_radius`` (haversine < radius meters),
  ``geo_polygon`` (strictly inside the exterior, outside every hole) over ``{"lon", "lat"}``
  objects.
* ``is_empty``: true when the key is missing, ``null`` or ``[]`` (every value it reaches is).
  ``is_null``: true when a value is ``null`` or an array holding a ``null``; a missing key is not
  null. The field-condition forms ``{"key": k, "is_empty": bool}`` / ``"is_null": bool`` exist too.
* ``nested {key, filter}``: the filter must hold for one element (an object) of the array at
  ``key`` (``key`` and ``key[]`` are the same). Inside it ``has_id``, ``has_vector`` and ``slice``
  never hold.
* ``slice {total, index}``: SipHash-2-4 (zero key) of the id's bytes (8 little-endian bytes for a
  number, the 16 UUID bytes) modulo ``total`` equals ``index``.

Errors: a body of the wrong shape raises ``FormatError`` (400 "Format error in JSON body: ...");
a well-formed but invalid one (a field condition with only ``key``, ``min_count`` 0, a slice
index not below ``total``) raises ``ValidationFailed`` (422).

The package, from the bottom up: ``base`` (types, constant predicates, JSON body readers, the
compilation context), ``checks`` (per-value ``match`` / ``range`` / ``values_count`` / geo
checks, the text tokenizer), ``field`` (field conditions), ``conditions`` (``is_empty``,
``is_null``, ``has_id``, ``has_vector``, ``slice``) and ``compiler`` (the boolean structure,
``nested``, ``compile_filter`` and ``extract_has_id``). Choosing and using payload indexes is
``node.planner``'s part; it reaches the text indexes through ``text_index_lookup``.
"""

from __future__ import annotations

from node.filters.base import DEFAULT_UNINDEXED_TEXT as DEFAULT_UNINDEXED_TEXT
from node.filters.base import MATCH_ALL, Predicate, TextIndexLookup
from node.filters.base import HasVector as HasVector
from node.filters.base import PointId as PointId
from node.filters.checks import text_tokens
from node.filters.compiler import compile_filter, extract_has_id
from node.filters.conditions import slice_of

__all__ = [
    "Predicate",
    "TextIndexLookup",
    "MATCH_ALL",
    "compile_filter",
    "extract_has_id",
    "text_tokens",
    "slice_of",
]
