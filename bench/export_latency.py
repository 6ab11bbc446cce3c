"""CPU latency of one exported model in every runtime: PyTorch eager, ONNX Runtime, TFLite float32 / float16.

    python bench/export_latency.py export/<name>-1024x1536 --weights <the weights it came from>
    python bench/export_latency.py export/<name>-1024x1536 --weights g.safetensors --threads 2 --repeats 3

TFLite runs in ai-edge-litert with XNNPACK on ``--threads`` threads; ONNX Runtime and PyTorch get the
same thread count. Seconds are per image at the export's size, after one warm-up run: best and median.
The PyTorch rows are GlassNet itself (NCHW and channels_last), not the export graph.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bggan.export.runners import onnx_session, run_torch, tflite_interpreter
from bggan.models import load_generator


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a bggan-export output folder")
    parser.add_argument("--weights", required=True, help="the generator the folder was exported from")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    h, w = json.loads((args.folder / "report.json").read_text())["config"]["size"]
    torch.set_num_threads(args.threads)
    x = np.random.default_rng(0).uniform(-1, 1, (1, h, w, 3)).astype(np.float32)
    model = load_generator(args.weights)
    rows = []

    def torch_nchw():
        with torch.no_grad():
            model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())

    rows.append(("pytorch eager, NCHW", *timed(torch_nchw, args.repeats)))
    rows.append(("pytorch eager, channels_last", *timed(lambda: run_torch(model, x), args.repeats)))
    session = onnx_session(args.folder / "model.onnx", args.threads)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    rows.append(("onnxruntime (model.onnx)", *timed(lambda: session.run(None, {"image": x_nchw}), args.repeats)))
    for kind in ["float32", "float16"]:
        interpreter = tflite_interpreter(args.folder / f"model_{kind}.tflite", args.threads)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        rows.append((f"tflite {kind}, XNNPACK", *timed(interpreter.invoke, args.repeats)))
    print(f"{h}x{w}, {args.threads} threads, {args.repeats} timed runs after a warm-up (inference only)")
    print(f"{'runtime':32s} {'best s':>8s} {'median s':>9s}")
    for name, best, median in rows:
        print(f"{name:32s} {best:8.2f} {median:9.2f}")


if __name__ == "__main__":
    main()
