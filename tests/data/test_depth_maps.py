import numpy as np
import pytest

from bggan.data.defocus import Lens
from bggan.data.depth_bokeh import signed_coc
from bggan.data.depth_maps import read_coc, write_depth_file
from bggan.errors import BgganError


def test_a_depth_file_round_trips_and_its_depth_alone_gives_the_same_coc(tmp_path):
    depth = np.linspace(0.8, 40, 24 * 32, dtype=np.float32).reshape(24, 32)
    lens = Lens(focal_mm=85.0, f_number=2.0)
    coc = signed_coc(depth, 3.0, lens, 32).astype(np.float32)
    path = write_depth_file(tmp_path / "7.npz", depth, coc, 3.0, lens)
    assert np.array_equal(read_coc(path), coc)
    with pytest.raises(BgganError, match="exists"):
        write_depth_file(path, depth, coc, 3.0, lens)
    # a user's file with the depth and the lens only: the same thin-lens map
    np.savez(tmp_path / "mine.npz", depth_m=depth, focus_m=3.0, focal_mm=85.0, f_number=2.0, sensor_width_mm=22.5)
    np.testing.assert_allclose(read_coc(tmp_path / "mine.npz"), coc, rtol=1e-6)
    np.save(tmp_path / "plain.npy", coc)
    assert np.array_equal(read_coc(tmp_path / "plain.npy"), coc)


@pytest.mark.parametrize("content, message", [
    (lambda p: p.write_text("hello"), "not a readable"),
    (lambda p: np.savez(p, depth_m=np.ones((4, 4))), "needs coc_px"),
    (lambda p: np.savez(p, coc_px=np.ones((2, 4, 4))), "finite 2-D map"),
    (lambda p: np.savez(p, coc_px=np.full((4, 4), np.nan)), "finite 2-D map"),
])
def test_bad_depth_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "x.npz"
    content(path)
    with pytest.raises(BgganError, match=message):
        read_coc(path)
