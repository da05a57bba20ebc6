"""Shard transfers driven through ``POST /collections/{name}/cluster`` (replicate_shard,
move_shard) and waited for: a progress bar of records copied, rate and ETA, read from the
transfer's comment in ``GET /collections/{name}/cluster``, until the target replica is Active
(finished) or the transfer is gone without it (failed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tessera.cli.client import Api, CliError
from tessera.cli.layout import Layout, layout
from tessera.cli.output import Session

POLL = 0.3
#: A transfer that has not shown up in the listing after this long is taken as never started.
GRACE = 10.0
#: How long the replica states may take to settle once the transfer left the listing.
SETTLE = 3.0


@dataclass
class Outcome:
    result: str  # "finished" | "failed" | "timeout"
    elapsed: float
    detail: str = ""


def start(api: Api, collection: str, operation: str, shard_id: int, source: int, target: int,
          method: str | None) -> None:
    body: dict = {"shard_id": shard_id, "from_peer_id": source, "to_peer_id": target}
    if method:
        body["method"] = method
    api.post(f"/collections/{collection}/cluster", json={operation: body})


def _over(view: Layout, shard_id: int, source: int, target: int, move: bool) -> str:
    """With the transfer no longer listed: "" when it finished, else what is wrong."""
    shard = view.shard(shard_id)
    target_state = shard.state_on(target) if shard else None
    if target_state == "Active" and not (move and shard and shard.state_on(source)):
        return ""
    if target_state == "Active":
        return f"peer {source} still holds shard {shard_id}"
    return f"replica on peer {target} is {target_state or 'absent'}"


def wait_for(session: Session, collection: str, shard_id: int, source: int, target: int,
         move: bool, timeout: float = 600.0) -> Outcome:
    """Follow one transfer to its end, with a live bar on stderr (none with -o json)."""
    api = session.api
    began = time.monotonic()
    seen = False
    gone_at: float | None = None
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("records · {task.fields[rate]}"), TimeRemainingColumn(),
                        console=session.err, disable=session.json, transient=False)
    label = f"shard {shard_id}: {source} → {target}"
    with progress:
        task = progress.add_task(label, total=None, rate="-")
        last: tuple[float, int] | None = None
        while True:
            elapsed = time.monotonic() - began
            view = layout(api, collection)
            transfer = view.transfer(shard_id, source, target)
            if transfer is not None:
                seen, gone_at = True, None
                done = transfer.progress()
                if done:
                    now = time.monotonic()
                    rate = "-"
                    if last and now > last[0] and done[0] >= last[1]:
                        rate = f"{(done[0] - last[1]) / (now - last[0]):,.0f}/s"
                    last = (now, done[0])
                    progress.update(task, completed=done[0], total=done[1], rate=rate)
            else:
                why = _over(view, shard_id, source, target, move)
                if why == "":
                    total = progress.tasks[0].total
                    progress.update(task, completed=total or 1, total=total or 1, rate="done")
                    return Outcome("finished", round(elapsed, 2))
                gone_at = gone_at or time.monotonic()
                if (seen and time.monotonic() - gone_at > SETTLE) or elapsed > GRACE:
                    return Outcome("failed", round(elapsed, 2), why or "")
            if elapsed > timeout:
                return Outcome("timeout", round(elapsed, 2),
                               f"still running after {timeout:g} s")
            time.sleep(POLL)


def execute(session: Session, moves: list, wait: bool = True, timeout: float = 600.0) -> list:
    """Run planned moves (planner.Move) one at a time; each move's document with its result."""
    done = []
    for move in moves:
        doc = move.document()
        if move.target is None:
            doc.update(result="skipped", detail="every other peer already holds this shard")
            done.append(doc)
            continue
        try:
            start(session.api, move.collection, "move_shard", move.shard_id, move.source,
                  move.target, None)
        except CliError as exc:
            doc.update(result="refused", detail=exc.message)
            done.append(doc)
            continue
        if wait:
            outcome = wait_for(session, move.collection, move.shard_id, move.source,
                               move.target, move=True, timeout=timeout)
            doc.update(result=outcome.result, elapsed=outcome.elapsed,
                       detail=outcome.detail or None)
        else:
            doc.update(result="started")
        done.append(doc)
    return done
