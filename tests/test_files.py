import os
import stat

import pytest

from bggan.errors import BgganError
from bggan.files import atomic_output


def test_outputs_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    with atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_nothing_and_an_existing_file_is_kept(tmp_path):
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine.txt").write_text("mine")
    with pytest.raises(BgganError, match="exists; pass --overwrite"), atomic_output(tmp_path / "mine.txt"):
        pass
    assert (tmp_path / "mine.txt").read_text() == "mine"
    with atomic_output(tmp_path / "mine.txt", overwrite=True) as tmp:
        tmp.write_text("new")
    assert (tmp_path / "mine.txt").read_text() == "new" and len(list(tmp_path.iterdir())) == 1
