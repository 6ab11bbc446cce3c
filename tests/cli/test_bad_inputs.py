"""The battery of bad inputs: every command given wrong paths, wrong kinds of files, garbage checkpoints, outputs
under files or over their inputs, and bad option values. Each is refused with a non-zero exit code, at most three
lines on stderr and no traceback, and leaves every file of the user's as it was (nothing made, changed or removed).
Negative controls show the judge catches a traceback, a long message and a changed file.
"""

from __future__ import annotations

import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from bggan.models import GlassNet, save_generator
from tests.cli.refusals import Outcome, assert_refused, run_in_process, run_process, snapshot

#: Commands run in this process (argparse), by console script; the others run as subprocesses (Hydra reads argv).
IN_PROCESS = {
    "bggan-render": "bggan.cli.render", "bggan-sample": "bggan.cli.sample", "bggan-synth": "bggan.cli.synth",
    "bggan-eval": "bggan.cli.eval", "bggan-import-tf": "bggan.cli.import_tf", "bggan-demo": "bggan.cli.demo",
    "bggan-aperture-demo": "bggan.cli.aperture_demo", "bggan-depth-demo": "bggan.cli.depth_demo",
}

# (command, arguments with {H} for the user's folder, exit code, what the message says). The user's folder holds
# what `home` makes: photo.png, photos/ (a.png, b.png), empty/, notes.txt, text.png (text), dot.png (1x1),
# rgb.safetensors, aperture.safetensors, depth.safetensors, bare.safetensors (no bggan metadata), cut.safetensors
# (truncated), garbage.ckpt (text), foreign.ckpt (a torch dict), weights.ckpt (bggan weights, no loop state),
# model.tflite and model.onnx (garbage), depth.npy, flat.npy (1-D), taken.png, taken/ (a user's file inside), tf/ (a
# TensorFlow checkpoint folder's files, empty).
RENDER = [
    ("", 2, "the following arguments are required"),
    ("{H}/photo.png --out {H}/out", 2, "--weights"),
    ("{H}/nope.png --weights {H}/rgb.safetensors --out {H}/out", 2, "nope.png: no such file"),
    ("{H}/empty --weights {H}/rgb.safetensors --out {H}/out", 2, "no .jpg"),
    ("{H}/notes.txt --weights {H}/rgb.safetensors --out {H}/out", 2, "notes.txt"),
    ("{H}/photo.png --weights {H}/nope.safetensors --out {H}/out", 2, "nope.safetensors: no such file"),
    ("{H}/photo.png --weights {H}/notes.txt --out {H}/out", 2, "is a text file, not a generator"),
    ("{H}/photo.png --weights {H}/photo.png --out {H}/out", 2, "is a PNG image, not a generator"),
    ("{H}/photo.png --weights {H}/bare.safetensors --out {H}/out", 2, "not a bggan generator"),
    ("{H}/photo.png --weights {H}/cut.safetensors --out {H}/out", 2, "damaged safetensors file"),
    ("{H}/photo.png --weights {H}/garbage.ckpt --out {H}/out", 2, "is a text file, not a generator"),
    ("{H}/photo.png --weights {H}/foreign.ckpt --out {H}/out", 2, "not one bggan-train wrote"),
    ("{H}/photo.png --weights {H}/empty --out {H}/out", 2, "empty"),
    ("{H}/photo.png --weights {H}/model.tflite --out {H}/out", 2, "model.tflite"),
    ("{H}/photo.png --weights {H}/model.onnx --out {H}/out", 2, "model.onnx"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --backend onnx --out {H}/out", 2, "onnx"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/notes.txt", 2, "is a file, not a folder"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/notes.txt/out", 2, "cannot be made"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}", 2, "replace its own input"),
    ("{H}/photos --weights {H}/rgb.safetensors --out {H}/photos", 2, "replace its own input"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/taken", 2, "exist already"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --quality 0", 2, "--quality"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --overlap -1", 2, "--overlap"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --tile big", 2, "--tile"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --tile 4x4", 2, "--tile"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --format bmp", 2, "--format"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --backend cuda", 2, "--backend"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --precision fp8", 2, "--precision"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --device nonsense", 2, "nonsense"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --aperture wide", 2, "--aperture"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --aperture 0", 2, "--aperture"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --aperture 2,4", 2, "--sweep"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --aperture 2 --sweep", 2, "not allowed with"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --sweep 2,x", 2, "--sweep"),
    ("{H}/photo.png --weights {H}/aperture.safetensors --out {H}/out --sweep --skip-existing", 2, "--skip-existing"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --overwrite --skip-existing", 2, "not allowed with"),
    ("{H}/photo.png --weights {H}/rgb.safetensors --out {H}/out --depth {H}/depth.npy", 2, "depth-aware"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out", 2, "--depth"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/nope.npy", 2, "nope.npy"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/notes.txt", 2, "notes.txt"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/flat.npy", 2, "flat.npy"),
    ("{H}/photos --weights {H}/depth.safetensors --out {H}/out --depth {H}/depth.npy", 2, "one photo's depth"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/depth.npy --focus 999,999", 2,
     "--focus"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/depth.npy --focus near", 2, "--focus"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/depth.npy --focal-length -5", 2,
     "--focal-length"),
    ("{H}/photo.png --weights {H}/depth.safetensors --out {H}/out --depth {H}/depth.npy --resize-like-released", 2,
     "--resize-like-released"),
]
SAMPLE = [
    ("", 2, "--out"),
    ("--out {H}/empty", 2, "is a folder"),
    ("--out {H}/taken.png", 2, "exists; pass --overwrite"),
    ("--out {H}/notes.txt/s.png", 2, "notes.txt is a file"),
    ("--out {H}/nowhere/s.png", 2, "does not exist"),
    ("--out {H}/s.png --image {H}/nope.png", 2, "nope.png"),
    ("--out {H}/s.png --image {H}/text.png", 2, "text.png"),
    ("--out {H}/s.png --image {H}/dot.png", 2, "at least 8x8"),
    ("--out {H}/s.png --weights {H}/notes.txt", 2, "is a text file, not a generator"),
    ("--out {H}/s.png --weights {H}/depth.safetensors", 2, "depth"),
    ("--out {H}/s.png --size 4x4", 2, "at least 8x8"),
    ("--out {H}/s.png --size huge", 2, "--size"),
    ("--out {H}/photo.png --image {H}/photo.png --overwrite", 2, "is also an input"),
    ("--out {H}/s.png --aperture 2", 2, "aperture"),
]
SYNTH = [
    ("", 2, "--out"),
    ("--out {H}/notes.txt --n 2", 2, "is a file, not a folder"),
    ("--out {H}/notes.txt/pairs --n 2", 2, "cannot be made"),
    ("--out {H}/pairs --n 0", 2, "--n"),
    ("--out {H}/pairs --n 2 --size 64", 2, "--size"),
    ("--out {H}/pairs --n 2 --format bmp", 2, "--format"),
    ("--out {H}/pairs --n 2 --apertures 8 0", 2, "--apertures"),
    ("--out {H}/pairs --n 2 --no-blur 0.5", 2, "--no-blur"),
    ("--out {H}/pairs --n 2 --textures {H}/nope", 2, "nope"),
    ("--out {H}/b.png --image {H}/photo.png", 2, "--depth"),
    ("--out {H}/b.png --image {H}/nope.png --depth {H}/depth.npy", 2, "nope.png"),
    ("--out {H}/b.png --image {H}/photo.png --depth {H}/nope.npy", 2, "nope.npy"),
    ("--out {H}/b.png --image {H}/photo.png --depth {H}/notes.txt", 2, "notes.txt"),
    ("--out {H}/taken.png --image {H}/photo.png --depth {H}/depth.npy", 2, "exists; pass --overwrite"),
    ("--out {H}/photo.png --image {H}/photo.png --depth {H}/depth.npy --overwrite", 2, "is also an input"),
    ("--out {H}/b.png --image {H}/photo.png --depth {H}/depth.npy --aperture -2", 2, "aperture"),
]
EVAL = [
    ("--out {H}/scores", 2, "give either"),
    ("--pred {H}/photos --out {H}/scores", 2, "go together"),
    ("--pred {H}/nope --target {H}/photos --out {H}/scores", 2, "nope"),
    ("--pred {H}/photos --target {H}/empty --out {H}/scores", 2, "no pairs to score"),
    ("--pred {H}/photos --target {H}/photos --out {H}/notes.txt", 2, "is a file, not a folder"),
    ("--pred {H}/photos --target {H}/photos --out {H}/notes.txt/scores", 2, "cannot be made"),
    ("--pred {H}/photos --target {H}/photos --out {H}/photos", 2, "is also an input folder"),
    ("--pred {H}/photos --target {H}/photos --out {H}/scores --bands 8", 2, "--bands"),
    ("--pred {H}/photos --target {H}/photos --out {H}/scores --grid many", 2, "--grid"),
    ("--pred {H}/photos --target {H}/photos --out {H}/scores pairs.n=3", 2, "only go with --weights"),
    ("--weights {H}/notes.txt --data synthetic --out {H}/scores", 2, "is a text file, not a generator"),
    ("--weights {H}/rgb.safetensors --data nosuchdata --out {H}/scores", 2, "nosuchdata"),
    ("--weights {H}/rgb.safetensors --data {H}/nope.yaml --out {H}/scores", 2, "nope.yaml"),
    ("--weights {H}/rgb.safetensors --data synthetic pairs.nosuchkey=1 --out {H}/scores", 2, "nosuchkey"),
]
IMPORT_TF = [
    ("--out {H}/g.safetensors", 2, "checkpoint"),
    ("{H}/nope --out {H}/g.safetensors", 2, "nope"),
    ("{H}/empty --out {H}/g.safetensors", 2, "a folder without a TensorFlow checkpoint"),
    ("{H}/notes.txt --out {H}/g.safetensors", 2, "notes.txt is a text file, not a TensorFlow checkpoint"),
    ("{H}/photos/a.png --out {H}/g.safetensors", 2, "a.png is a PNG image, not a TensorFlow checkpoint"),
    ("{H}/tf --out {H}/taken.png", 2, "exists; pass --overwrite"),
    ("{H}/tf --out {H}/empty", 2, "is a folder"),
    ("{H}/tf --out {H}/notes.txt/g.safetensors", 2, "notes.txt is a file"),
    ("{H}/tf/ckpt-1.index --out {H}/tf/ckpt-1.index --overwrite", 2, "is also an input"),
]
DEMOS = [
    ("bggan-demo", "--out {H}/notes.txt", 2, "is a file, not a folder"),
    ("bggan-demo", "--out {H}/notes.txt/demo", 2, "cannot be made"),
    ("bggan-demo", "--out {H}/taken", 2, "taken"),
    ("bggan-demo", "--out {H}/demo --size 7x9", 2, "--size"),
    ("bggan-demo", "--out {H}/demo --pairs 0", 2, "--pairs"),
    ("bggan-demo", "--out {H}/demo --precision fp8", 2, "--precision"),
    ("bggan-demo", "--out {H}/demo --vgg-weights {H}/nope.pth", 2, "nope.pth"),
    ("bggan-aperture-demo", "--out {H}/notes.txt", 2, "is a file, not a folder"),
    ("bggan-aperture-demo", "--out {H}/taken", 2, "taken"),
    ("bggan-aperture-demo", "--out {H}/demo --condition gate", 2, "--condition"),
    ("bggan-aperture-demo", "--out {H}/demo --epochs -1", 2, "--epochs"),
    ("bggan-depth-demo", "--out {H}/notes.txt", 2, "is a file, not a folder"),
    ("bggan-depth-demo", "--out {H}/taken", 2, "taken"),
    ("bggan-depth-demo", "--out {H}/demo --size 100x100", 2, "--size"),
    ("bggan-depth-demo", "--out {H}/demo --test-scenes 0", 2, "--test-scenes"),
]
TRAIN = [
    ("stage=nope", 2, "stage=nope: no such choice"),
    ("model=nope", 2, "model=nope: no such choice"),
    ("trainer.max_epochs=abc", 2, "trainer.max_epochs"),
    ("data.pairs.nope=1", 2, "data.pairs.nope"),
    ("loss.w_l1==2", 2, "cannot parse override"),
    ("hydra.run.dir={H}/notes.txt/run", 2, "cannot be made"),
    ("hydra.run.dir={H}/notes.txt", 2, "is a file, not a folder"),
    ("ckpt_path={H}/garbage.ckpt", 2, "is a text file, not a readable training checkpoint"),
    ("ckpt_path={H}/nope.ckpt", 2, "no such file"),
    ("ckpt_path={H}/rgb.safetensors", 2, "not a readable training checkpoint"),
    ("ckpt_path={H}/weights.ckpt", 2, "cannot be resumed"),
    ("ckpt_path={H}/foreign.ckpt", 2, "not one bggan-train wrote"),
    ("init_from={H}/notes.txt", 2, "is a text file, not a generator"),
    ("init_from={H}/photo.png", 2, "is a PNG image, not a generator"),
    ("init_from={H}/nope.safetensors", 2, "no such file"),
    ("init_from={H}/cut.safetensors", 2, "damaged safetensors file"),
    ("stage=adversarial", 2, "init_from"),
    ("data=ebb data.pairs.root={H}/nope", 2, "nope"),
]
EXPORT = [
    ("", 2, "weights"),
    ("weights={H}/nope.safetensors", 2, "no such file"),
    ("weights={H}/notes.txt", 2, "is a text file, not a generator"),
    ("weights={H}/model.tflite", 2, "model.tflite is binary data of an unknown kind, not a generator"),
    ("weights={H}/garbage.ckpt", 2, "is a text file, not a generator"),
    ("weights={H}/bare.safetensors", 2, "not a bggan generator"),
    ("weights={H}/rgb.safetensors out={H}/notes.txt", 2, "is a file, not a folder"),
    ("weights={H}/rgb.safetensors out={H}/notes.txt/export", 2, "cannot be made"),
    ("weights={H}/rgb.safetensors out={H}/taken", 2, "exists; pass --overwrite"),
    ("weights={H}/rgb.safetensors size=[100,96]", 2, "multiples of 8"),
    ("weights={H}/rgb.safetensors size=big", 2, "size"),
    ("weights={H}/rgb.safetensors parity_images=0", 2, "parity_images"),
    ("weights={H}/rgb.safetensors calibration_dir={H}/nope", 2, "nope"),
    ("weights={H}/rgb.safetensors nope=1", 2, "nope"),
    ("weights={H}/rgb.safetensors gpu=maybe", 2, "gpu"),
]
LITERT_GPU = [
    ("", 2, "required"),
    ("check", 2, "required"),
    ("check {H}/nope.tflite", 2, "nope.tflite"),
    ("check {H}/notes.txt", 2, "notes.txt is a text file, not a TFLite model"),
    ("check {H}/model.tflite", 2, "not a TFLite model"),
    ("fly", 2, "invalid choice"),
]

CASES = ([("bggan-render", *c) for c in RENDER] + [("bggan-sample", *c) for c in SAMPLE]
         + [("bggan-synth", *c) for c in SYNTH] + [("bggan-eval", *c) for c in EVAL]
         + [("bggan-import-tf", *c) for c in IMPORT_TF] + DEMOS + [("bggan-train", *c) for c in TRAIN]
         + [("bggan-export", *c) for c in EXPORT] + [("python -m bggan.litert_gpu", *c) for c in LITERT_GPU])


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user's folder of the files the cases name (see the comment above :data:`RENDER`)."""
    home = tmp_path_factory.mktemp("home")
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(home / "photo.png")
    (home / "photos").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(photo).save(home / "photos" / name)
    (home / "empty").mkdir()
    (home / "notes.txt").write_text("the user's notes\n")
    (home / "text.png").write_text("not an image")
    Image.new("RGB", (1, 1)).save(home / "dot.png")
    torch.manual_seed(0)
    save_generator(GlassNet(c1=4, c2=6, n_res=1), home / "rgb.safetensors")
    save_generator(GlassNet(c1=4, c2=6, n_res=1, condition="channel"), home / "aperture.safetensors")
    save_generator(GlassNet(c1=4, c2=6, n_res=1, condition="defocus", gate=True, stack=[2.0, 4.0]),
                   home / "depth.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, home / "bare.safetensors")
    (home / "cut.safetensors").write_bytes((home / "rgb.safetensors").read_bytes()[:-64])
    (home / "garbage.ckpt").write_text("not a checkpoint")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, home / "foreign.ckpt")
    model = GlassNet(c1=4, c2=6, n_res=1)
    torch.save({"bggan": {"generator": model.config}, "state_dict": {f"generator.{k}": v for k, v in
                                                                      model.state_dict().items()}},
               home / "weights.ckpt")
    (home / "model.tflite").write_bytes(b"\x00" * 64)
    (home / "model.onnx").write_bytes(b"\x08\x07garbage")
    np.save(home / "depth.npy", np.full((48, 64), 3.0, np.float32))
    np.save(home / "flat.npy", np.ones(5, np.float32))
    Image.fromarray(photo).save(home / "taken.png")
    (home / "taken").mkdir()
    (home / "taken" / "photo.png").write_bytes((home / "photo.png").read_bytes())
    (home / "taken" / "keep.txt").write_text("mine")
    (home / "tf").mkdir()  # what a TensorFlow checkpoint folder looks like from outside (never read here)
    (home / "tf" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    (home / "tf" / "ckpt-1.index").write_bytes(bytes(16))
    return home


def run_case(command: str, args: str, home) -> Outcome:
    argv = shlex.split(args.replace("{H}", str(home)))
    if command in IN_PROCESS:
        return run_in_process(IN_PROCESS[command], command, argv)
    return run_process([*shlex.split(command), *argv], cwd=home)


@pytest.mark.parametrize(("command", "args", "code", "message"), CASES,
                         ids=[f"{c[0].split()[-1]}: {c[1]}" for c in CASES])
def test_a_bad_input_is_refused_in_one_to_three_lines_and_changes_nothing(home, monkeypatch, command, args, code,
                                                                            message):
    monkeypatch.chdir(home)
    before = snapshot(home)
    outcome = run_case(command, args, home)
    assert_refused(outcome, code, message.replace("{H}", str(home)))
    assert snapshot(home) == before


def test_the_battery_is_at_least_a_hundred_inputs_over_every_command():
    from tests.conftest import console_scripts

    assert len(CASES) >= 100
    assert {c[0] for c in CASES} >= {*console_scripts(), "python -m bggan.litert_gpu"}


# --------------------------------------------------------------------------- negative controls
def test_the_judge_catches_a_traceback_a_long_message_and_a_changed_file(home, monkeypatch):
    from bggan.cli import sample

    def crash(argv=None):
        raise KeyError("a bug")

    monkeypatch.setattr(sample, "main", crash)
    outcome = run_case("bggan-sample", "--out x.png", home)
    assert outcome.code == 1 and "Traceback" in outcome.err and "KeyError" in outcome.err
    with pytest.raises(AssertionError, match="Traceback"):
        assert_refused(outcome, 1, "a bug")
    crashed = run_process(["python", "-c", "raise KeyError('a bug')"], cwd=home)
    with pytest.raises(AssertionError, match="Traceback"):
        assert_refused(crashed, 1, "a bug")
    with pytest.raises(AssertionError):
        assert_refused(Outcome(2, "", "error: one\ntwo\nthree\nfour\n", 0.0), 2, "one")
    with pytest.raises(AssertionError):
        assert_refused(Outcome(0, "", "error: fine\n", 0.0), 2, "fine")  # exit code 0 is no refusal
    before = snapshot(home)
    (home / "notes.txt").write_text("changed")
    try:
        assert snapshot(home) != before
    finally:
        (home / "notes.txt").write_text("the user's notes\n")
    assert snapshot(home) == before
