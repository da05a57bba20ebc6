"""Geo helpers for filters: haversine distance, bounding boxes, polygons.

Coordinates are degrees; ``lon`` is x and ``lat`` is y. Distances are meters on a sphere of the
mean Earth radius (6371008.8 m, the IUGG value Qdrant's geo library uses).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "EARTH_RADIUS_M",
    "haversine_m",
    "in_bounding_box",
    "Polygon",
    "is_valid_lat_lon",
]

EARTH_RADIUS_M = 6371008.8

Coord = tuple  # (lon, lat)


def is_valid_lat_lon(lat: float, lon: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in meters."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    d_phi = math.radians(lat2 - lat1)
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def in_bounding_box(
    lon: float, lat: float, left: float, top: float, right: float, bottom: float
) -> bool:
    """Strictly inside the box spanned by top-left and bottom-right corners.

    When ``left > right`` the box crosses the antimeridian (it covers ``lon > left`` and
    ``lon < right``).
    """
    if left > right:
        lon_ok = lon > left or lon < right
    else:
        lon_ok = left < lon < right
    return lon_ok and bottom < lat < top


_OUTSIDE, _BOUNDARY, _INSIDE = 0, 1, 2


def _ring_position(x: float, y: float, ring: Sequence[Coord]) -> int:
    """Where (x, y) lies relative to a closed ring: outside, on its boundary, or inside."""
    inside = False
    n = len(ring)
    for i in range(n - 1):
        x1, y1 = ring[i]
        x2, y2 = ring[i + 1]
        # on the segment?
        if min(x1, x2) <= x <= max(x1, x2) and min(y1, y2) <= y <= max(y1, y2):
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) == 0:
                return _BOUNDARY
        # ray to +x crosses the segment (half-open in y)?
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return _INSIDE if inside else _OUTSIDE


def _close(ring: Sequence[Coord]) -> tuple:
    ring = tuple(ring)
    if ring and ring[0] != ring[-1]:
        ring = ring + (ring[0],)
    return ring


class Polygon:
    """A polygon with holes; ``contains`` is true strictly inside (boundary points are out)."""

    __slots__ = ("exterior", "interiors", "bbox")

    def __init__(self, exterior: Sequence[Coord], interiors: Sequence[Sequence[Coord]] = ()):
        self.exterior = _close(exterior)
        self.interiors = tuple(_close(r) for r in interiors)
        xs = [p[0] for p in self.exterior]
        ys = [p[1] for p in self.exterior]
        self.bbox = (min(xs), min(ys), max(xs), max(ys)) if xs else (0.0, 0.0, -1.0, -1.0)

    def contains(self, lon: float, lat: float) -> bool:
        min_x, min_y, max_x, max_y = self.bbox
        if not (min_x <= lon <= max_x and min_y <= lat <= max_y):
            return False
        if _ring_position(lon, lat, self.exterior) != _INSIDE:
            return False
        for ring in self.interiors:
            if _ring_position(lon, lat, ring) != _OUTSIDE:
                return False
        return True
