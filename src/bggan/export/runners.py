"""Run each exported model on a batch of images, one image at a time (every model has batch 1).

Every runner takes and returns NHWC float32 ``(N, H, W, 3)`` arrays in [-1, 1], so outputs compare directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bggan.export.onnx_file import INPUT_NAME, OUTPUT_NAME


def run_torch(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """``model(x)`` for NCHW models (run channels_last: same numbers, faster on CPU); a GlassNet's
    ``(final, rough)`` gives ``final``."""
    outs = []
    with torch.no_grad():
        for image in images:
            y = model(torch.from_numpy(image).permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last))
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


def run_onnx(path: Path, images: np.ndarray, threads: int = 0) -> np.ndarray:
    session = onnx_session(path, threads, arena=False)  # a one-off parity run inside the export's memory budget
    return np.stack([session.run([OUTPUT_NAME], {INPUT_NAME: image.transpose(2, 0, 1)[None]})[0][0].transpose(1, 2, 0)
                     for image in images])


def run_saved_model(path: Path, images: np.ndarray) -> np.ndarray:
    from bggan.quiet import import_tensorflow

    tf = import_tensorflow()

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return np.stack([serve(**{INPUT_NAME: tf.constant(image[None])})[OUTPUT_NAME].numpy()[0] for image in images])


def tflite_interpreter(path: Path, threads: int = 2):
    """An allocated ai-edge-litert interpreter (XNNPACK on CPU)."""
    from ai_edge_litert.interpreter import Interpreter

    from bggan.quiet import TENSORFLOW_NOISE, filtered_stderr

    with filtered_stderr(TENSORFLOW_NOISE):
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    return interpreter


def run_tflite(path: Path, images: np.ndarray, threads: int = 2) -> np.ndarray:
    interpreter = tflite_interpreter(path, threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outs = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        interpreter.invoke()
        outs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(outs)
