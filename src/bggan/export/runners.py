"""Run each exported model on a batch of images, one image at a time (every model has batch 1).

Every runner takes and returns NHWC float32 ``(N, H, W, 3)`` arrays in [-1, 1], so outputs compare directly; for a
model with the aperture as an input, also one strength per image, ``(N,)`` float32 (``1.8 / f-number``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bggan.export.onnx_file import INPUT_NAME, OUTPUT_NAME, STRENGTH_NAME, split_inputs, strength_input


def _strengths(images: np.ndarray, strengths: np.ndarray | None) -> list[np.ndarray | None]:
    """One ``(1, 1, 1, 1)`` float32 strength per image, or ``None`` for each."""
    if strengths is None:
        return [None] * len(images)
    return [strength_input(s) for s in np.asarray(strengths, np.float32).reshape(len(images))]


def run_torch(model: torch.nn.Module, images: np.ndarray, strengths: np.ndarray | None = None) -> np.ndarray:
    """``model(x[, strength])`` for NCHW models (run channels_last: same numbers, faster on CPU); a GlassNet's
    ``(final, rough)`` gives ``final``."""
    outs = []
    with torch.no_grad():
        for image, s in zip(images, _strengths(images, strengths), strict=True):
            x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
            y = model(x) if s is None else model(x, torch.from_numpy(s))
            y = y[0] if isinstance(y, tuple) else y
            outs.append(y[0].permute(1, 2, 0).numpy())
    return np.stack(outs)


def onnx_session(path: Path, threads: int = 0, arena: bool = True):
    """An ONNX Runtime CPU session (``threads=0``: its own default). ``arena=False`` trades speed (about 1.7x
    slower at 1024x1536 here) for memory: the arena keeps its peak, 1+ GB, for the session's life."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, images: np.ndarray, threads: int = 0, strengths: np.ndarray | None = None) -> np.ndarray:
    session = onnx_session(path, threads, arena=False)  # a one-off parity run inside the export's memory budget
    outs = []
    for image, s in zip(images, _strengths(images, strengths), strict=True):
        feed = {INPUT_NAME: image.transpose(2, 0, 1)[None], **({STRENGTH_NAME: s} if s is not None else {})}
        outs.append(session.run([OUTPUT_NAME], feed)[0][0].transpose(1, 2, 0))
    return np.stack(outs)


def run_saved_model(path: Path, images: np.ndarray, strengths: np.ndarray | None = None) -> np.ndarray:
    from bggan.quiet import import_tensorflow

    tf = import_tensorflow()

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outs = []
    for image, s in zip(images, _strengths(images, strengths), strict=True):
        feed = {INPUT_NAME: tf.constant(image[None]), **({STRENGTH_NAME: tf.constant(s)} if s is not None else {})}
        outs.append(serve(**feed)[OUTPUT_NAME].numpy()[0])
    return np.stack(outs)


def tflite_interpreter(path: Path, threads: int = 2):
    """An allocated ai-edge-litert interpreter (XNNPACK on CPU)."""
    from ai_edge_litert.interpreter import Interpreter

    from bggan.quiet import TENSORFLOW_NOISE, filtered_stderr

    with filtered_stderr(TENSORFLOW_NOISE):
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    return interpreter


def tflite_inputs(interpreter) -> tuple[dict, dict | None]:
    """The image input's and the strength input's details (``None``: a model without the aperture as an input),
    told apart by shape (:func:`~bggan.export.onnx_file.split_inputs`)."""
    details = {d["name"]: d for d in interpreter.get_input_details()}
    image, strength = split_inputs({name: list(d["shape"]) for name, d in details.items()})
    return details[image], (details[strength] if strength else None)


def run_tflite(path: Path, images: np.ndarray, threads: int = 2, strengths: np.ndarray | None = None) -> np.ndarray:
    interpreter = tflite_interpreter(path, threads)
    (inp, strength), out = tflite_inputs(interpreter), interpreter.get_output_details()[0]
    outs = []
    for image, s in zip(images, _strengths(images, strengths), strict=True):
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        if s is not None:
            interpreter.set_tensor(strength["index"], s)
        interpreter.invoke()
        outs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(outs)
