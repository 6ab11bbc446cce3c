"""The released script's bicubic resize, reproduced without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from bggan.render.resize import released_resize, released_size


def test_released_size_rounds_each_side_up_to_8():
    assert released_size((1024, 1531)) == (1024, 1536)
    assert released_size((1021, 1536)) == (1024, 1536)
    assert released_size((1024, 1536)) == (1024, 1536)


def test_resize_keeps_constants_and_identity():
    image = np.random.default_rng(0).uniform(0, 255, (9, 13, 3)).astype(np.float32)
    np.testing.assert_array_equal(released_resize(image, (9, 13)), image)
    flat = np.full((9, 13, 3), 7.5, np.float32)
    np.testing.assert_allclose(released_resize(flat, (16, 16)), 7.5, atol=1e-5)


@pytest.mark.export
@pytest.mark.parametrize("size, new", [((20, 37), (20, 40)), ((20, 40), (20, 37)), ((13, 9), (16, 16)),
                                       ((30, 30), (10, 12)), ((64, 1531), (64, 1536))])
def test_matches_tensorflows_bicubic_resize(tf, size, new):
    image = np.random.default_rng(1).integers(0, 256, (*size, 3)).astype(np.float32)
    expected = tf.image.resize(image, new, method="bicubic").numpy()  # what the released script called
    np.testing.assert_allclose(released_resize(image, new), expected, atol=2e-4)
