import numpy as np

from bggan.data.synthetic import render_pair
from bggan.images import read_rgb, write_rgb


def test_jpegs_default_to_high_quality_unless_asked_otherwise(tmp_path):
    image = render_pair(0, 96, 128)[0]  # photo-like: smooth areas, edges, fine grain
    write_rgb(tmp_path / "default.jpg", image)
    write_rgb(tmp_path / "q75.jpg", image, quality=75)
    error = {name: np.abs(read_rgb(tmp_path / name).astype(int) - image).mean() for name in ("default.jpg", "q75.jpg")}
    assert error["default.jpg"] < 0.7 * error["q75.jpg"]
    assert (tmp_path / "default.jpg").stat().st_size > (tmp_path / "q75.jpg").stat().st_size
