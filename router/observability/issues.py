"""GET and DELETE /issues: performance issues found while serving, with the call that fixes
each (Qdrant's issues report).

One kind is reported today: a payload key that filters read without a payload index. The
collections remember such keys as they serve (``Collection.unindexed_reads``); an issue lasts
while the key is still unindexed, so creating the index makes it go away, and DELETE forgets
every key seen so far.
"""

from __future__ import annotations

from datetime import datetime, timezone


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _collections(toc) -> list:
    found = []
    for name in sorted(toc.list_names()):
        try:
            found.append(toc.get(name))
        except Exception:  # dropped since the listing
            continue
    return found


def report(toc) -> dict:
    issues = []
    for collection in _collections(toc):
        name = collection.name
        for key, (schema, seen) in sorted(dict(collection.unindexed_reads).items()):
            if key in collection.payload_schema:
                continue
            issues.append({
                "id": f"UNINDEXED_FIELD/{name}/{key}",
                "description": f"Unindexed field '{key}' might be slowing queries down in "
                               f"collection '{name}'",
                "solution": {"immediate": {
                    "message": f"Create an index on field '{key}' of schema {schema} in "
                               f"collection '{name}'. Check the documentation for more "
                               "details: https://qdrant.tech/documentation/concepts/indexing/"
                               "#payload-index",
                    "action": {
                        "method": "PUT",
                        "uri": f"/collections/{name}/index",
                        "headers": {"content-type": "application/json"},
                        "body": {"field_name": key, "field_schema": schema},
                    },
                }},
                "timestamp": _iso(seen),
            })
    return {"issues": issues}


def clear(toc) -> bool:
    for collection in _collections(toc):
        collection.unindexed_reads.clear()
    return True
