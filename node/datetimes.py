"""Datetime strings as Qdrant reads them (payload values and ``range`` bounds).

Accepted (what Qdrant's parser takes; a missing offset means UTC):

* RFC 3339: ``2024-06-15T12:30:00Z``, ``2024-06-15T12:30:00.123456789+02:00`` (``T``, ``t`` or a
  space between date and time, ``Z`` or ``z``);
* an offset without colon or without minutes, optionally after a space: ``+0200``, ``+02``,
  `` +02:00``, and `` UTC``;
* without an offset: ``2024-06-15T12:30:00[.fff]``, ``2024-06-15 12:30:00[.fff]``,
  ``2024-06-15 12:30``, ``2024-06-15T12:30`` and a bare date ``2024-06-15`` (midnight).

A datetime is represented as an ``int``: nanoseconds since the Unix epoch, UTC, so comparisons
are exact.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache

__all__ = ["parse_datetime", "format_ns"]

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()

_RE = re.compile(
    r"""
    \s*
    (?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
    (?:
        (?P<sep>[Tt\ ])
        (?P<h>\d{2}):(?P<mi>\d{2})
        (?: :(?P<s>\d{2}) (?: \.(?P<f>\d+) )? )?
        (?P<tz>
            \ ?(?:[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)
        )?
    )?
    """,
    re.VERBOSE,
)


@lru_cache(maxsize=65536)
def parse_datetime(text: str) -> int | None:
    """Nanoseconds since the epoch (UTC) for a datetime string Qdrant accepts, else None."""
    if not isinstance(text, str):
        return None
    m = _RE.fullmatch(text)
    if m is None:
        return None
    try:
        day = _dt.date(int(m["y"]), int(m["mo"]), int(m["d"]))
    except ValueError:
        return None
    days = day.toordinal() - _EPOCH_ORDINAL
    if m["h"] is None:
        return days * 86_400 * 10**9

    sep, tz, sec = m["sep"], m["tz"], m["s"]
    if sec is None:
        # "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM" only: no offset
        if tz is not None or sep not in (" ", "T"):
            return None
    elif tz is None and sep == "t":
        return None
    hour, minute = int(m["h"]), int(m["mi"])
    second = int(sec) if sec is not None else 0
    if hour > 23 or minute > 59 or second > 60:
        return None
    frac = m["f"]
    nanos = int((frac + "000000000")[:9]) if frac else 0
    if second == 60:  # a leap second, kept just after :59
        second, nanos = 59, nanos + 10**9

    offset = 0
    if tz is not None:
        tz = tz.strip()
        if tz not in ("Z", "z", "UTC"):
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            oh = int(digits[:2])
            om = int(digits[2:]) if len(digits) > 2 else 0
            if oh > 23 or om > 59:
                return None
            offset = sign * (oh * 3600 + om * 60)
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 10**9 + nanos


def format_ns(ns: int) -> str:
    """RFC 3339 text (UTC) of a nanosecond timestamp, for messages and debugging."""
    seconds, nanos = divmod(ns, 10**9)
    base = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)
    text = base.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"
