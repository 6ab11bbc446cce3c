"""Run each exported model on a batch of images, one image at a time (every model has batch 1).

Every runner takes and returns NHWC float32 ``(N, H, W, 3)`` arrays in [-1, 1], so outputs compare directly; for a
model with a second input, also its ``conditions``, one per image: ``(N,)`` strengths (``1.8 / f-number``) for the
aperture as an input, ``(N, H, W)`` defocus maps (signed px) for a depth-aware model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bggan.export.onnx_file import (
    DEFOCUS_NAME,
    INPUT_NAME,
    OUTPUT_NAME,
    STRENGTH_NAME,
    condition_input,
    split_inputs,
    takes_map,
)


def per_image(images: np.ndarray, conditions: np.ndarray | None) -> list:
    """``conditions`` split per image (a strength, or an ``(H, W)`` map), or ``None`` for each image."""
    if conditions is None:
        return [None] * len(images)
    conditions = np.asarray(conditions, np.float32)
    if len(conditions) != len(images):
        raise ValueError(f"{len(conditions)} conditions for {len(images)} images")
    return list(conditions)


def condition_name(condition) -> str:
    """The ONNX / SavedModel input name of a condition: :data:`STRENGTH_NAME` or :data:`DEFOCUS_NAME`."""
    return STRENGTH_NAME if np.ndim(condition) == 0 else DEFOCUS_NAME


def run_torch(model: torch.nn.Module, images: np.ndarray, conditions: np.ndarray | None = None) -> np.ndarray:
    """``model(x[, condition])`` for NCHW models (run channels_last: same numbers, faster on CPU); a GlassNet's
    ``(final, rough)`` gives ``final``."""
    outs = []
    with torch.no_grad():
        for image, c in zip(images, per_image(images, conditions), strict=True):
            x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
            y = model(x) if c is None else model(x, torch.from_numpy(condition_input(c, nhwc=False)))
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


def run_onnx(path: Path, images: np.ndarray, threads: int = 0, conditions: np.ndarray | None = None) -> np.ndarray:
    session = onnx_session(path, threads, arena=False)  # a one-off parity run inside the export's memory budget
    outs = []
    for image, c in zip(images, per_image(images, conditions), strict=True):
        feed = {INPUT_NAME: image.transpose(2, 0, 1)[None]}
        if c is not None:
            feed[condition_name(c)] = condition_input(c, nhwc=False)
        outs.append(session.run([OUTPUT_NAME], feed)[0][0].transpose(1, 2, 0))
    return np.stack(outs)


def run_saved_model(path: Path, images: np.ndarray, conditions: np.ndarray | None = None) -> np.ndarray:
    from bggan.quiet import import_tensorflow

    tf = import_tensorflow()

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outs = []
    for image, c in zip(images, per_image(images, conditions), strict=True):
        feed = {INPUT_NAME: tf.constant(image[None])}
        if c is not None:
            feed[condition_name(c)] = tf.constant(condition_input(c, nhwc=True))
        outs.append(serve(**feed)[OUTPUT_NAME].numpy()[0])
    return np.stack(outs)


def tflite_interpreter(path: Path, threads: int = 2, xnnpack: bool | None = None):
    """An allocated ai-edge-litert interpreter on the CPU: with XNNPACK (LiteRT's default) or its built-in kernels.

    ``xnnpack=None`` picks: XNNPACK unless the model is depth-aware (a defocus map as its second input), whose graph
    XNNPACK plans memory for poorly: at 1024x1536 it held 11.1 GiB against 2.3 with the built-in kernels, for 1.6x
    the speed (3.2 s against 5.0 s on 2 cores of an AMD EPYC, 2026-12-07).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from bggan.quiet import TENSORFLOW_NOISE, filtered_stderr

    builtin = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    with filtered_stderr(TENSORFLOW_NOISE):
        if xnnpack is None:  # an interpreter not yet allocated knows its inputs
            xnnpack = not interpreter_takes_map(Interpreter(model_path=str(path), **builtin))
        interpreter = Interpreter(model_path=str(path), num_threads=threads, **({} if xnnpack else builtin))
        interpreter.allocate_tensors()
    return interpreter


def interpreter_takes_map(interpreter) -> bool:
    """The model's second input is a defocus map (:func:`~bggan.export.onnx_file.takes_map`)."""
    details = {d["name"]: list(d["shape"]) for d in interpreter.get_input_details()}
    return takes_map(details, split_inputs(details)[1])


def tflite_inputs(interpreter) -> tuple[dict, dict | None]:
    """The image input's and the second input's details (a strength or a defocus map; ``None``: a model with one
    input), told apart by size (:func:`~bggan.export.onnx_file.split_inputs`)."""
    details = {d["name"]: d for d in interpreter.get_input_details()}
    image, second = split_inputs({name: list(d["shape"]) for name, d in details.items()})
    return details[image], (details[second] if second else None)


def run_tflite(path: Path, images: np.ndarray, threads: int = 2, conditions: np.ndarray | None = None) -> np.ndarray:
    interpreter = tflite_interpreter(path, threads)
    (inp, second), out = tflite_inputs(interpreter), interpreter.get_output_details()[0]
    outs = []
    for image, c in zip(images, per_image(images, conditions), strict=True):
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        if c is not None:
            interpreter.set_tensor(second["index"], condition_input(c, nhwc=True))
        interpreter.invoke()
        outs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(outs)
