"""Dense vector preparation: the fast path for flat float32 lists gives exactly what the careful
path gives, and every malformed vector still gets the careful path's precise error."""

from __future__ import annotations

import numpy as np
import pytest

from node import distance as dist
from node.errors import FormatError, WrongInput
from node.shard_config import DenseParams
from node.vector_input import prepare_dense


@pytest.mark.parametrize("distance", [dist.COSINE, dist.DOT, dist.EUCLID, dist.MANHATTAN])
def test_flat_list_is_prepared_bitwise_as_the_careful_path(distance):
    rng = np.random.default_rng(3)
    params = DenseParams(size=48, distance=distance)
    for scale in (1e-6, 1e-2, 1.0, 37.0, 1e6):
        for _ in range(50):
            raw = (rng.standard_normal(48) * scale).astype(np.float32)
            fast = prepare_dense("v", params, raw.tolist())
            careful = prepare_dense("v", params, raw)  # an array takes the careful path
            assert fast.dtype == np.float32
            assert np.array_equal(fast, careful)
            assert np.array_equal(fast, dist.prepare(distance, raw))


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_zero_and_huge_vectors_match_the_careful_path():
    params = DenseParams(size=4, distance=dist.COSINE)
    for raw in ([0.0, 0.0, 0.0, 0.0], [1e30, 1e30, -1e30, 1e30], [1, 2, 3, 4]):
        fast = prepare_dense("v", params, list(raw))
        careful = prepare_dense("v", params, np.asarray(raw, dtype=np.float32))
        assert np.array_equal(fast, careful, equal_nan=True)


@pytest.mark.parametrize(
    ("raw", "error", "text"),
    [
        ([1.0, float("nan"), 0.0, 0.0], WrongInput, "NaN or infinite"),
        ([1.0, float("inf"), 0.0, 0.0], WrongInput, "NaN or infinite"),
        ([1.0, 2.0, 3.0], WrongInput, "expected dim: 4, got 3"),
        ([1.0, "x", 0.0, 0.0], FormatError, "expected a vector of numbers"),
        ([[1.0, 2.0, 3.0, 4.0]], WrongInput, "Conversion between multi and regular vectors"),
    ],
)
def test_malformed_lists_get_the_precise_error(raw, error, text):
    with pytest.raises(error, match=text):
        prepare_dense("v", DenseParams(size=4, distance=dist.COSINE), raw)
