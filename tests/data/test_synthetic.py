import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bggan.data.defocus import Layer, Lens, composite, linear_to_srgb
from bggan.data.scenes import SyntheticScene, fractal_noise, random_scene
from bggan.data.synthetic import SyntheticPairs, aperture_for, render_pair, render_sample
from bggan.errors import BgganError


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
    scene = random_scene(seed, 256, 384, Lens(focal_mm=85.0))  # a long lens: backgrounds blurred by > 8 px
    names = [layer.name for layer in scene.layers]
    subject = scene.layers[names.index("subject")]
    diameters = scene.diameters()
    assert diameters[names.index("subject")] == 0 and max(diameters) > 2
    sharp_f, bokeh_f = (linear_to_srgb(composite(scene.layers, d, normalize=True)) * 255 for d in (None, diameters))
    shape = sharp_f.shape[:2]
    objects = [i for i, layer in enumerate(scene.layers) if layer.diameter_px is None and layer is not subject]
    # the subject where it is fully visible (nothing nearer, an object or the ground, covers or blurs over it)
    nearer = [i for i, layer in enumerate(scene.layers) if layer.depth_m < subject.depth_m]
    visible = (subject.alpha == 1) & ~_spill([scene.layers[i] for i in nearer], [diameters[i] for i in nearer], shape)
    visible[1:-1, 1:-1] &= (subject.alpha[:-2, 1:-1] == 1) & (subject.alpha[2:, 1:-1] == 1)
    visible[1:-1, 1:-1] &= (subject.alpha[1:-1, :-2] == 1) & (subject.alpha[1:-1, 2:] == 1)  # the Laplacian's reach
    if visible.sum() > 200:
        assert sharpness(bokeh_f, visible) / sharpness(sharp_f, visible) > 0.97
    # the surface far out of focus, where no object may reach and away from its lights (a blurred light
    # is a disc with a crisp rim): its detail washes out. Measured before rounding to uint8.
    coc = scene.coc()
    r = int(max(diameters) / 2) + 2
    lights = torch.from_numpy((sharp_f.max(-1) >= 250).astype(np.float32))[None, None]
    near_lights = F.max_pool2d(lights, 2 * r + 1, 1, r)[0, 0].numpy() > 0
    far_surface = (coc > 8) & ~_spill([scene.layers[i] for i in objects] + [subject],
                                      [diameters[i] for i in objects] + [0.0], shape) & ~near_lights
    assert far_surface.sum() > 1000
    assert sharpness(bokeh_f, far_surface) < 0.5 * sharpness(sharp_f, far_surface)


def test_the_maps_describe_the_target():
    sample = render_sample(3, 128, 192)
    depth, coc = sample["depth"], sample["coc"]
    assert depth.shape == coc.shape == (128, 192) and depth.dtype == coc.dtype == np.float32
    assert np.all(depth > 0) and np.isfinite(coc).all()
    expected = Lens().coc_px(np.maximum(depth, 0.0505), sample["focus_m"], 192) * np.sign(depth - sample["focus_m"])
    np.testing.assert_allclose(coc, expected, rtol=1e-4, atol=1e-4)
    assert (np.abs(coc) < 1e-3).mean() > 0.02  # the subject is exactly in focus
    assert coc.max() > 1 and depth.max() > sample["focus_m"]  # something behind it is blurred


def test_synthetic_pairs_carry_the_maps_and_take_a_lens_and_textures(tmp_path):
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    pairs = SyntheticPairs(n=3, size=(48, 64), holdout=1, cache=True, workers=1, textures=str(tmp_path),
                           focal_mm=85.0)
    item = pairs.split()[1][0]
    assert set(item) == {"name", "input", "target", "depth", "coc", "focus_m", "f_number", "strength"}
    assert item["coc"].dtype == np.float32 and item["coc"].shape == (48, 64)
    again = SyntheticPairs(n=3, size=(48, 64), holdout=1, cache=False, textures=str(tmp_path), focal_mm=85.0)
    assert np.array_equal(again.split()[1][0]["target"], item["target"])  # cache and fresh renders agree
    assert "85 mm f/1.8" in pairs.summary() and str(tmp_path) in pairs.summary()
    other_lens = SyntheticPairs(n=3, size=(48, 64), holdout=1, cache=False, textures=str(tmp_path))
    assert np.abs(other_lens.split()[1][0]["coc"]).max() < np.abs(item["coc"]).max()  # a shorter lens blurs less
    with pytest.raises(BgganError, match="no such folder"):
        SyntheticPairs(textures=str(tmp_path / "nope"))


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


# ----------------------------------------------------------------- per-pair apertures


def test_each_pair_has_its_own_aperture_and_the_same_scene_at_every_aperture():
    numbers = [aperture_for(seed, (1.4, 22.0)) for seed in range(200)]
    assert all(1.4 <= n <= 22.0 for n in numbers) and numbers == [aperture_for(s, (1.4, 22.0)) for s in range(200)]
    logs = np.log(numbers)
    assert abs(np.median(logs) - np.log(np.sqrt(1.4 * 22))) < 0.3  # log-uniform: the median at the geometric mean
    wide, narrow = render_sample(5, 48, 64, Lens(f_number=1.4)), render_sample(5, 48, 64, Lens(f_number=16.0))
    assert np.array_equal(wide["input"], narrow["input"]) and np.array_equal(wide["depth"], narrow["depth"])
    assert np.abs(wide["coc"]).max() > 5 * np.abs(narrow["coc"]).max()  # CoC scales with 1 / N
    assert wide["f_number"] == 1.4 and narrow["f_number"] == 16.0


def test_no_blur_pairs_have_the_input_as_target():
    shares = [math.isinf(aperture_for(seed, (1.4, 22.0), no_blur=0.25)) for seed in range(400)]
    assert 0.18 < np.mean(shares) < 0.32
    sample = render_sample(3, 32, 48, Lens(f_number=math.inf))
    assert np.array_equal(sample["target"], sample["input"]) and not sample["coc"].any()
    blurred = render_sample(3, 32, 48, Lens(f_number=1.8))
    assert not np.array_equal(blurred["target"], blurred["input"])  # the control


def test_synthetic_pairs_carry_their_aperture_cached_or_not():
    pairs = SyntheticPairs(n=6, size=(32, 48), holdout=2, apertures=(1.4, 22.0), no_blur=0.3, workers=1)
    cached = [item for split in pairs.split() for item in split]
    lazy = [item for split in SyntheticPairs(n=6, size=(32, 48), holdout=2, apertures=(1.4, 22.0), no_blur=0.3,
                                             cache=False).split() for item in split]
    for a, b, seed in zip(cached, lazy, range(6), strict=True):
        expected = aperture_for(seed, (1.4, 22.0), 0.3)
        assert a["f_number"] == b["f_number"] == expected and np.array_equal(a["target"], b["target"])
        assert a["strength"] == pytest.approx(0.0 if math.isinf(expected) else 1.8 / expected)
    assert len({item["f_number"] for item in cached}) > 1
    assert "per pair (log-uniform, 30% no blur)" in pairs.summary()
    fixed = SyntheticPairs(n=3, size=(32, 48), holdout=1, cache=False).split()[0][0]
    assert fixed["f_number"] == 1.8 and fixed["strength"] == 1.0  # the default: every pair at EBB!'s f/1.8


def test_unseen_scenes_follow_both_splits_and_share_their_lens():
    pairs = SyntheticPairs(n=4, size=(32, 48), holdout=2, cache=False, focal_mm=85.0)
    train, val = pairs.split()
    test = pairs.unseen(3)
    assert [item["name"] for item in test] == ["4", "5", "6"]  # after the last validation seed (3)
    seen = {item["name"] for split in (train, val) for item in split}
    assert seen == {"0", "1", "2", "3"} and not seen & {item["name"] for item in test}
    assert np.array_equal(test[0]["target"], render_sample(4, 32, 48, pairs.lens)["target"])  # through the same lens
    assert not np.array_equal(test[0]["target"], render_sample(4, 32, 48)["target"])  # the control: 50 mm differs
    with pytest.raises(BgganError, match="at least 1"):
        pairs.unseen(0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"apertures": [22.0, 1.4]}, "apertures"), ({"apertures": [0.0, 2.0]}, "apertures"),
    ({"apertures": [1.4]}, "apertures"), ({"no_blur": 0.1}, "goes with apertures"),
    ({"apertures": [1.4, 22.0], "no_blur": 1.5}, "no_blur"),
])
def test_bad_aperture_settings_are_refused(kwargs, message):
    with pytest.raises(BgganError, match=message):
        SyntheticPairs(n=3, holdout=1, **kwargs)


# ----------------------------------------------------------------- depth-aware pairs


def test_refocused_pairs_keep_the_scene_and_move_the_focus():
    from bggan.data.synthetic import Refocus

    moved, lens = 0, Lens(85.0, 1.4)
    for seed in range(6):
        subject = render_sample(seed, 48, 72, lens)
        refocused = render_sample(seed, 48, 72, lens, refocus=1.0)
        assert np.array_equal(subject["input"], refocused["input"])  # the same scene
        assert np.array_equal(subject["depth"], refocused["depth"])
        if abs(refocused["focus_m"] / subject["focus_m"] - 1) > 0.01:  # (a pixel of the subject is at its distance)
            moved += 1
            assert not np.array_equal(subject["target"], refocused["target"])
            assert refocused["focus_m"] in set(refocused["depth"].ravel().tolist())  # a point of the scene
    assert moved >= 3
    assert render_sample(3, 48, 72, refocus=0.0)["focus_m"] == render_sample(3, 48, 72)["focus_m"]
    assert Refocus(3, 0.0)(np.ones((4, 4), np.float32), 2.5) == 2.5


def test_depth_input_pairs_carry_the_defocus_map_true_or_as_a_phone_gives_it():
    from bggan.data.depth_corruption import PhoneDepth

    common = {"n": 4, "size": (48, 72), "holdout": 1, "cache": False, "focal_mm": 85.0, "apertures": [1.4, 4.0],
              "refocus": 0.5}
    train, val = SyntheticPairs(**common, depth_input=True).split()
    item = train[0]
    assert np.array_equal(item["defocus"], item["coc"])  # the true depth: the target's own circle of confusion
    assert "defocus" not in SyntheticPairs(**common).split()[0][0]
    train, val = SyntheticPairs(**common, depth_input=True, phone_depth=PhoneDepth(clean=0.0)).split()
    torch.manual_seed(0)
    first, again = train[0]["defocus"], train[0]["defocus"]
    assert first.shape == (48, 72) and np.abs(first - train[0]["coc"]).mean() > 0.01
    assert not np.array_equal(first, again)  # training draws a new corruption on every read
    assert np.array_equal(val[0]["defocus"], val[0]["defocus"])  # validation: one fixed draw per seed
    assert "phone" in SyntheticPairs(**common, depth_input=True, phone_depth=PhoneDepth()).summary()


def test_no_blur_pairs_get_a_map_of_zeros():
    pairs = SyntheticPairs(n=12, size=(32, 48), holdout=1, cache=False, apertures=[1.4, 4.0], no_blur=0.5,
                           depth_input=True)
    items = [pairs.split()[0][i] for i in range(11)]
    blank = [item for item in items if math.isinf(item["f_number"])]
    assert blank and all((item["defocus"] == 0).all() for item in blank)
    assert any(np.abs(item["defocus"]).max() > 0 for item in items if not math.isinf(item["f_number"]))


@pytest.mark.parametrize(("kwargs", "message"), [({"refocus": 1.5}, "refocus"),
                                                 ({"phone_depth": object()}, "depth_input=true")])
def test_bad_depth_settings_are_refused(kwargs, message):
    with pytest.raises(BgganError, match=message):
        SyntheticPairs(n=4, size=(32, 48), holdout=1, cache=False, **kwargs)
