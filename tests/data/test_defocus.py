import numpy as np
import pytest

from bggan.data.defocus import (
    HALF_RES_DIAMETER,
    Layer,
    Lens,
    _disk_blur,
    blur,
    composite,
    disk_kernel,
    linear_to_srgb,
    srgb_to_linear,
)


@pytest.mark.parametrize("diameter", [0.5, 3, 9.5, 20])
def test_disk_kernel_is_normalised_and_round(diameter):
    k = disk_kernel(diameter)
    assert abs(k.sum() - 1) < 1e-6
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1])
    if diameter >= 1:
        assert abs((k > 0.5 * k.max()).sum() - np.pi * diameter**2 / 4) < diameter + 2


@pytest.mark.parametrize("diameter", [6, HALF_RES_DIAMETER, 30])
def test_blur_keeps_energy_and_turns_a_point_into_a_disc(diameter):
    x = np.zeros((121, 131, 1), np.float32)
    x[60, 65] = 1
    out = blur(x, diameter)[..., 0]
    assert abs(out.sum() - 1) < 1e-4
    area = (out > 0.5 * out.max()).sum()
    assert abs(area - np.pi * diameter**2 / 4) < 2 * diameter


def test_blur_reflects_at_the_border_so_a_flat_frame_stays_flat():
    assert np.abs(blur(np.ones((40, 50, 4), np.float32), 21) - 1).max() < 1e-5


def test_half_resolution_blur_matches_full_resolution_on_smooth_content():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128] / 20
    img = np.stack([np.sin(xx + c) * np.cos(yy) for c in range(3)], -1).astype(np.float32)
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    assert np.abs(blur(img, 24) - _disk_blur(img, 24)).mean() < 0.01


def test_circle_of_confusion_follows_the_thin_lens():
    lens = Lens(focal_mm=50, f_number=1.8, sensor_width_mm=22.5)
    assert lens.coc_px(2.0, 2.0, 768) == 0
    # c = (f / N) * f / (S - f) * |d - S| / d on the sensor, here 0.5696 mm of 22.5 mm over 768 px
    assert abs(lens.coc_px(10.0, 2.0, 768) - 0.05 / 1.8 * 0.05 / 1.95 * 0.8 / 0.0225 * 768) < 1e-9
    far = [lens.coc_px(d, 2.0, 768) for d in (2.5, 4, 8, 30, 1000)]
    assert far == sorted(far)
    assert lens.coc_px(1.0, 2.0, 768) > lens.coc_px(1.5, 2.0, 768) > 0
    assert Lens(f_number=4).coc_px(10, 2, 768) < lens.coc_px(10, 2, 768)


def test_srgb_round_trip():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 1e-5


def _square(h, w, y0, y1, x0, x1):
    a = np.zeros((h, w), np.float32)
    a[y0:y1, x0:x1] = 1
    return a


def test_blurred_foreground_spills_over_background_not_the_reverse():
    h = w = 80
    far = Layer(np.full((h, w, 3), 0.0, np.float32), np.ones((h, w), np.float32), 50.0)
    near = Layer(np.full((h, w, 3), 1.0, np.float32), _square(h, w, 30, 50, 30, 50), 1.0)
    # near layer blurred, far sharp: white spills outside the square's edge
    out = composite([far, near], [0.0, 12.0])
    assert out[40, 52, 0] > 0.2
    # near layer sharp, far (bright) blurred: nothing of the far layer bleeds into the square
    far_bright = Layer(np.full((h, w, 3), 5.0, np.float32), np.ones((h, w), np.float32), 50.0)
    near_dark = Layer(np.zeros((h, w, 3), np.float32), _square(h, w, 30, 50, 30, 50), 1.0)
    out = composite([far_bright, near_dark], [12.0, 0.0])
    assert out[30:50, 30:50].max() == 0


def test_highlights_become_bright_discs_in_linear_light():
    h = w = 64
    color = np.full((h, w, 3), 0.05, np.float32)
    color[31:34, 31:34] = 30.0  # a light far brighter than white
    layer = Layer(color, np.ones((h, w), np.float32), 20.0)
    sharp = linear_to_srgb(composite([layer]))
    bokeh = linear_to_srgb(composite([layer], [14.0]))
    assert (sharp > 0.99).sum() == 27  # a 3x3 white dot
    disc = bokeh[..., 0] > 0.9
    assert abs(disc.sum() - np.pi * 7**2) < 40  # a saturated disc of the CoC's size
