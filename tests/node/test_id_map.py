"""The compact id maps behave like the dict and list they replace, frozen or not."""

from __future__ import annotations

import pickle
import random
import uuid

import numpy as np
import pytest

from node import id_map
from node.id_map import IdMap, OffsetIds
from node.ids import id_sort_key
from node.shard_state import ShardState


def _some_id(rng: random.Random):
    kind = rng.random()
    if kind < 0.15:
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if kind < 0.25:
        return 2**64 - 1 - rng.randrange(50)  # beyond int64: must stay exact in uint64
    return rng.randrange(3000)


@pytest.mark.parametrize("min_recent", [1, 7, 8192])
def test_random_operations_match_a_dict(monkeypatch, min_recent):
    monkeypatch.setattr(id_map, "_MIN_RECENT", min_recent)  # freeze often, sometimes, never
    rng = random.Random(min_recent)
    ids, reference = IdMap(), {}
    for step in range(6000):
        point_id = _some_id(rng)
        action = rng.random()
        if action < 0.3:
            ids[point_id] = reference[point_id] = step
        elif action < 0.6:
            assert ids.put(point_id, step) == reference.get(point_id)  # the offset it replaced
            reference[point_id] = step
        elif action < 0.9:
            assert ids.pop(point_id) == reference.pop(point_id, None)
        elif action < 0.95:
            ids.freeze()
        assert ids.get(point_id) == reference.get(point_id)
        assert (point_id in ids) == (point_id in reference)
        assert len(ids) == len(reference)
    assert sorted(ids, key=id_sort_key) == sorted(reference, key=id_sort_key)
    for point_id, offset in reference.items():
        assert ids[point_id] == offset
    with pytest.raises(KeyError):
        ids[-5 if -5 not in reference else "missing"]


def test_frozen_ids_take_a_few_bytes_each():
    ids = IdMap()
    for point_id in range(100_000):
        ids[point_id * 7] = point_id
    ids.freeze()
    assert ids._recent == {}
    assert ids._keys.nbytes + ids._offsets.nbytes == 100_000 * 16
    assert ids.get(7 * 4321) == 4321 and ids.get(7 * 4321 + 1) is None


def test_offset_ids_round_trip_and_read_the_old_list_format():
    values = [5, "0b0c2a1e-3f7a-4c1e-9a2b-7d5e1f0a9c3b", 2**64 - 1, 0, 5]
    ids = OffsetIds()
    for value in values:
        ids.append(value)
    assert [ids[i] for i in range(len(ids))] == values
    assert type(ids[0]) is int and type(ids[2]) is int
    restored = OffsetIds.from_state(pickle.loads(pickle.dumps(ids.to_state())))
    assert [restored[i] for i in range(len(restored))] == values
    old = OffsetIds.from_state(values)  # state files written before the compact format
    assert [old[i] for i in range(len(old))] == values
    with pytest.raises(IndexError):
        ids[len(values)]


def test_map_of_live_offsets_keeps_the_last_live_offset():
    ids = OffsetIds()
    for value in [1, 2, "0b0c2a1e-3f7a-4c1e-9a2b-7d5e1f0a9c3b", 1, 3]:
        ids.append(value)
    alive = np.array([False, True, True, True, False])
    live = IdMap.of_live(ids, alive)
    assert dict((k, live[k]) for k in live) == {
        2: 1, "0b0c2a1e-3f7a-4c1e-9a2b-7d5e1f0a9c3b": 2, 1: 3
    }
    assert 3 not in live and len(live) == 3


def test_shard_state_lists_points_in_id_order_from_a_start(tmp_path):
    rng = random.Random(3)
    state = ShardState(vector_names=[""])
    wanted = {}
    for _ in range(2500):
        point_id = _some_id(rng)
        if rng.random() < 0.2 and point_id in wanted:
            state.remove(point_id)
            del wanted[point_id]
        else:
            wanted[point_id] = state.add(point_id, 1, None)
    order = sorted(wanted, key=id_sort_key)
    assert list(state.points_from(None)) == [(i, wanted[i]) for i in order]
    for start in (0, 1500, 2**64 - 20, order[-1], "0" * 8 + "-0000-0000-0000-" + "0" * 12):
        got = [i for i, _ in state.points_from(start)]
        assert got == [i for i in order if id_sort_key(i) >= id_sort_key(start)]
    state.save(tmp_path)
    loaded = ShardState.load(tmp_path, [""])
    assert list(loaded.points_from(None)) == [(i, wanted[i]) for i in order]
    assert all(loaded.ext_ids[o] == i for i, o in wanted.items())


def test_ids_at_reads_integers_and_uuids_in_the_order_asked():
    ids = OffsetIds()
    points = [5, str(uuid.UUID(int=1)), 2**64 - 1, 0, str(uuid.UUID(int=2))]
    for point_id in points:
        ids.append(point_id)
    offsets = np.array([4, 0, 2, 2, 1, 3])
    assert ids.ids_at(offsets) == [points[i] for i in offsets]
    assert ids.ids_at(np.array([], dtype=np.int64)) == []
    only_ints = OffsetIds()
    for point_id in (7, 8, 9):
        only_ints.append(point_id)
    assert only_ints.ids_at(np.array([2, 0])) == [9, 7]
    assert all(type(i) is int for i in only_ints.ids_at(np.array([2, 0])))
