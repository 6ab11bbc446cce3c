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


def test_identify_tells_the_kinds_of_file_a_user_may_name_apart(tmp_path):
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from bggan.files import SAFETENSORS, TORCH_CHECKPOINT, identify

    Image.new("RGB", (4, 4)).save(tmp_path / "a.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.webp")
    Image.new("RGB", (4, 4)).save(tmp_path / "named.safetensors", format="PNG")  # the name does not decide
    np.save(tmp_path / "d.npy", np.zeros(3))
    save_file({"w": torch.zeros(2)}, tmp_path / "w.bin")
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    (tmp_path / "m.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(40))
    (tmp_path / "zeros.tflite").write_bytes(bytes(64))
    (tmp_path / "notes.txt").write_text("café au lait\n" * 10)  # a character cut at byte 64 is still text
    (tmp_path / "empty").touch()
    (tmp_path / "folder").mkdir()
    kinds = {name: identify(tmp_path / name) for name in ("a.jpg", "a.webp", "named.safetensors", "d.npy", "w.bin",
                                                         "w.pt", "m.tflite", "zeros.tflite", "notes.txt", "empty",
                                                         "folder", "missing")}
    assert kinds == {"a.jpg": "a JPEG image", "a.webp": "a WebP image", "named.safetensors": "a PNG image",
                     "d.npy": "a NumPy array (.npy)", "w.bin": SAFETENSORS, "w.pt": TORCH_CHECKPOINT,
                     "m.tflite": "a TFLite model", "zeros.tflite": "binary data of an unknown kind",
                     "notes.txt": "a text file", "empty": "an empty file", "folder": "a folder", "missing": "missing"}
