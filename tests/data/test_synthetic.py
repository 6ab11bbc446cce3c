import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bggan.data.defocus import Layer, Lens, composite, linear_to_srgb
from bggan.data.synthetic import SyntheticScene, fractal_noise, random_scene, render_pair


def sharpness(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute Laplacian of the luminance inside ``mask``."""
    g = image.astype(np.float32).mean(-1)
    lap = np.abs(4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:])
    return float(lap[mask[1:-1, 1:-1]].mean())


def _striped(h, w, period=6):
    xx = np.mgrid[0:h, 0:w][1]
    v = np.where((xx // (period // 2)) % 2 == 0, 0.8, 0.05).astype(np.float32)
    return np.repeat(v[..., None], 3, -1)


def test_in_focus_layer_stays_sharp_and_blur_grows_with_distance_from_focus():
    h, w, focus = 120, 640, 2.0
    depths = [focus, 2.5, 4.0, 10.0]
    layers = [Layer(np.full((h, w, 3), 0.2, np.float32), np.ones((h, w), np.float32), 60.0, "background")]
    inner = []
    for i, depth in enumerate(depths):
        x0 = 20 + i * 160
        alpha = np.zeros((h, w), np.float32)
        alpha[20:100, x0:x0 + 120] = 1
        layers.append(Layer(_striped(h, w), alpha, depth, f"square{i}"))
        m = np.zeros((h, w), bool)
        m[40:80, x0 + 30:x0 + 90] = True  # well inside: away from the edges' spill
        inner.append(m)
    scene = SyntheticScene(sorted(layers, key=lambda layer: -layer.depth_m), focus, Lens())
    sharp, bokeh = scene.render(False), scene.render(True)
    ratios = [sharpness(bokeh, m) / sharpness(sharp, m) for m in inner]
    assert ratios[0] > 0.99  # the focal plane is untouched
    assert ratios[1] < 0.5 and ratios[1] > ratios[2] > ratios[3]  # blur grows with distance
    assert ratios[3] < 0.1


def _spill(layers, diameters, shape):
    """Where any of ``layers``, blurred by its diameter, may reach (its bounding box, grown)."""
    spill = np.zeros(shape, bool)
    for layer, d in zip(layers, diameters, strict=True):
        r = int(d / 2) + 2
        ys, xs = np.nonzero(layer.alpha > 0)
        if ys.size:
            spill[max(ys.min() - r, 0):ys.max() + r, max(xs.min() - r, 0):xs.max() + r] = True
    return spill


@pytest.mark.parametrize("seed", range(8))
def test_random_scenes_keep_the_subject_sharp_and_blur_the_background(seed):
    scene = random_scene(seed, 256, 384)
    names = [layer.name for layer in scene.layers]
    subject = scene.layers[names.index("subject")]
    diameters = scene.diameters()
    assert diameters[names.index("subject")] == 0 and diameters[0] > 5
    sharp, bokeh = scene.render(False), scene.render(True)
    shape = sharp.shape[:2]
    # the subject where it is fully visible (nothing nearer covers or blurs over it)
    nearer = [i for i, layer in enumerate(scene.layers) if layer.depth_m < subject.depth_m]
    visible = (subject.alpha == 1) & ~_spill([scene.layers[i] for i in nearer], [diameters[i] for i in nearer], shape)
    visible[1:-1, 1:-1] &= (subject.alpha[:-2, 1:-1] == 1) & (subject.alpha[2:, 1:-1] == 1)
    if visible.sum() > 200:
        assert sharpness(bokeh, visible) / sharpness(sharp, visible) > 0.97
    # the background where nothing else may reach and away from its lights (a blurred light is a
    # disc with a crisp rim): its grain and edges wash out. Measured before rounding to uint8,
    # whose steps would otherwise swamp the faint grain.
    sharp_f, bokeh_f = (linear_to_srgb(composite(scene.layers, d)) * 255 for d in (None, diameters))
    r = int(diameters[0] / 2) + 2
    lights = torch.from_numpy((sharp.max(-1) >= 250).astype(np.float32))[None, None]
    near_lights = F.max_pool2d(lights, 2 * r + 1, 1, r)[0, 0].numpy() > 0
    open_ground = ~_spill(scene.layers[1:], diameters[1:], shape) & ~near_lights
    assert open_ground.sum() > 1000
    assert sharpness(bokeh_f, open_ground) < 0.5 * sharpness(sharp_f, open_ground)


def test_pairs_are_deterministic_per_seed_and_look_like_images():
    a, b = render_pair(7, 128, 192), render_pair(7, 128, 192)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    sharp, bokeh = a
    assert sharp.shape == bokeh.shape == (128, 192, 3) and sharp.dtype == np.uint8
    assert not np.array_equal(sharp, render_pair(8, 128, 192)[0])
    assert 20 < sharp.mean() < 235 and sharp.std() > 10  # neither blank nor noise-saturated


def test_fractal_noise_is_normalised_and_smooth():
    n = fractal_noise(np.random.default_rng(0), 64, 96)
    assert n.shape == (64, 96) and n.min() == 0 and n.max() == 1
    assert np.abs(np.diff(n, axis=1)).mean() < 0.05  # neighbours are close: smooth, not white noise
