"""Every CPU path to a Glass-Net forward side by side in one run, against the released code's yardstick.

    python bench/cpu_paths.py                        # released model, 1024x1536, 2 threads: about 10 minutes
    python bench/cpu_paths.py --size 512x768 --paths tf-eager,torch-cl,onnxruntime
    python bench/cpu_paths.py --tflite               # adds TFLite fp32 / fp16 (XNNPACK): runs bggan-export first

Every path runs in its own process (its own allocator, thread pools and peak memory) on the same weights (the
released architecture with He-scaled random weights, seed 0) and the same input (a synthetic scene cut from
photographs). The yardstick is the released TensorFlow 2 model called eagerly, as the authors' ``main.py`` does;
the authors' code may not be copied, so it is the project's independent TensorFlow model of the same network
(``tests/tf_reference.py``, written from the spec, the tests' reference for the port).

Columns: ``first s``, setup (loading, exporting or quantizing) plus the first forward, what one photo costs;
``best s`` and ``median s`` of the timed forwards after it, what each photo of a folder costs; ``GFLOP/s`` and
``% peak``, the FLOPs of a direct forward (torch's counter; Winograd does fewer multiplies, and bf16 and int8 are
not bound by the fp32 peak, so a path can pass 100%) over the best time, against the machine's fp32 peak
measured in the same process before and after: the best of three libraries' kernels on the same threads (torch's
matmul, oneDNN's 3x3 convolution, NumPy's matmul: ``bench/machine.py``; one library alone measured that library,
half the machine on an AMD CPU; this machine's speed drifts within minutes); ``x yardstick``, the yardstick's best time over the path's; ``PSNR`` of the
output against eager PyTorch in float32 (NCHW) on [-1, 1], over the image and in the scene's in-focus and
out-of-focus bands
(:mod:`bggan.evaluate.bands`); peak resident memory of the path's process. ``--weights`` runs a trained
generator instead (the quality of bf16 and int8 is best judged on one). The CPU (model, vendor, the flags that pick
kernels) is printed first; ``--json FILE`` writes every number with the machine, torch's version and the commit.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.tf_reference
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/machine.py

from machine import cpu, describe, peak_kernels

from bggan.cli.common import parse_size
from bggan.models import GlassNet, load_generator, save_generator

#: Path name -> what it is (the table's last column).
PATHS = {
    "tf-eager": "yardstick: the released TF 2 model called eagerly (the authors' main.py)",
    "tf-function": "the same in tf.function",
    "torch-nchw": "PyTorch eager, NCHW (the reference output)",
    "torch-cl-before": "PyTorch eager, channels_last, F.instance_norm, glibc defaults (bggan-render until now)",
    "torch-cl-norms": "the same, norms on its channels_last memory (bggan.models.blocks), glibc defaults",
    "torch-cl-direct": "the same, and glibc keeps what the forward frees (bggan.allocator)",
    "torch-cl": "bggan-render's default: the same, residual convolutions by Winograd F(4x4, 3x3) (bggan.models.winograd)",
    "onnxruntime": "ONNX Runtime on torch.onnx's export of the same model (export in first s)",
    "torch-bf16": "bggan-render --precision bf16: convolutions in bfloat16 (AMX), statistics in float32",
    "torch-int8": "bggan-render --precision int8: convolutions in int8 (oneDNN; per-channel weights, each input's own range)",
    "onnxruntime-int8": "ONNX Runtime, static int8 QDQ (per-channel weights, MinMax on 2 scenes; in first s)",
    "tflite-fp32": "TFLite float32 from bggan-export (XNNPACK)",
    "tflite-fp16": "TFLite float16 weights from bggan-export (XNNPACK)",
}
DEFAULT_PATHS = [p for p in PATHS if not p.startswith("tflite")]
REFERENCE = "torch-nchw"


# --- the paths, each set up inside its own process: work folder -> a function giving (1, H, W, 3) float32 ---

def _image(work: Path) -> np.ndarray:
    return np.load(work / "input.npy")  # (1, H, W, 3) float32 in [-1, 1]


def _tf_paths(work: Path, threads: int, compiled: bool):
    from tests.tf_reference import glassnet_tf_ops

    from bggan.models.tf_checkpoint import torch_to_tf
    from bggan.quiet import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = load_generator(work / "weights.safetensors")
    weights = [(tf.constant(torch_to_tf(c.weight)), None if c.bias is None else tf.constant(c.bias.detach().numpy()))
               for c in model.released_layer_order()]
    n_res = model.config["n_res"]
    x = tf.constant(_image(work))

    def forward(t):
        return glassnet_tf_ops(tf, t, weights, n_res, model.config["norm"])[0]

    forward = tf.function(forward) if compiled else forward
    return lambda: forward(x).numpy()


def _torch_eager(work: Path, layout: torch.memory_format, rows_norm: bool = True):
    from bggan.models import blocks

    if not rows_norm:
        blocks._rows_form_applies = lambda x: False
    model = load_generator(work / "weights.safetensors").to(memory_format=layout)
    x = torch.from_numpy(_image(work)).permute(0, 3, 1, 2).contiguous(memory_format=layout)

    def run():
        with torch.inference_mode():
            return model(x)[0].permute(0, 2, 3, 1).numpy()

    return run


def _torch_backend(work: Path, precision: str, winograd: bool = True):
    from bggan.allocator import freed_memory_kept
    from bggan.render.backends import TorchBackend

    if not winograd:  # the model as loaded, direct convolutions (oneDNN); this process runs this path only
        from bggan.models import winograd as wg

        wg.to_winograd = lambda model: model
    backend = TorchBackend(work / "weights.safetensors", "cpu", precision)
    image = _image(work)[0]

    def run():
        with freed_memory_kept():  # as bggan-render runs a photo it renders whole
            return backend(image)[None]

    return run


def _onnx_file(work: Path) -> Path:
    from bggan.export.onnx_file import _exporter_quiet

    path = work / "glassnet.onnx"
    model = load_generator(work / "weights.safetensors")
    example = torch.from_numpy(_image(work)).permute(0, 3, 1, 2)
    with torch.no_grad(), _exporter_quiet():
        torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=18, input_names=["image"],
                          output_names=["bokeh", "rough"], external_data=False)
    return path


def _int8_file(work: Path, source: Path) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared, path = work / "glassnet_pre.onnx", work / "glassnet_int8.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    scenes = np.load(work / "calibration.npy").transpose(0, 3, 1, 2)

    class Scenes(CalibrationDataReader):
        def __init__(self):
            self.items = iter(scenes)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"image": item[None]}

    quantize_static(str(prepared), str(path), Scenes(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv", "ConvTranspose"], calibrate_method=CalibrationMethod.MinMax)
    return path


def _onnxruntime(work: Path, threads: int, int8: bool):
    from bggan.export.runners import onnx_session

    path = _onnx_file(work)
    session = onnx_session(_int8_file(work, path) if int8 else path, threads)
    x = np.ascontiguousarray(_image(work).transpose(0, 3, 1, 2))
    return lambda: session.run(["bokeh"], {"image": x})[0].transpose(0, 2, 3, 1)


def _tflite(work: Path, threads: int, kind: str):
    from bggan.export.runners import tflite_interpreter

    interpreter = tflite_interpreter(work / "export" / f"model_{kind}.tflite", threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x = _image(work)

    def run():
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    return run


def setup(path: str, work: Path, threads: int):
    """The forward function of ``path`` (its setup happens here, and counts in ``first s``)."""
    match path:
        case "tf-eager" | "tf-function":
            return _tf_paths(work, threads, compiled=path == "tf-function")
        case "torch-nchw":
            return _torch_eager(work, torch.contiguous_format)
        case "torch-cl-before" | "torch-cl-norms":
            return _torch_eager(work, torch.channels_last, rows_norm=path == "torch-cl-norms")
        case "torch-cl" | "torch-cl-direct":
            return _torch_backend(work, "fp32", winograd=path == "torch-cl")
        case "torch-bf16" | "torch-int8":
            return _torch_backend(work, path.removeprefix("torch-"))
        case "onnxruntime" | "onnxruntime-int8":
            return _onnxruntime(work, threads, int8=path.endswith("int8"))
        case "tflite-fp32" | "tflite-fp16":
            return _tflite(work, threads, {"tflite-fp32": "float32", "tflite-fp16": "float16"}[path])
    raise ValueError(path)


def child(path: str, work: Path, threads: int, repeats: int, matmul: int) -> None:
    """Run one path (in its own process) and print one JSON line; its output goes to ``work/<path>.npy``.

    The fp32 kernels of :func:`machine.peak_kernels` are timed in the same process before the path's setup and
    after its timed forwards (this machine's speed drifts within minutes); each kernel's better time counts, and
    the best kernel is the peak. The peak resident memory is read before the second (the first one's matrices are
    freed before the path starts).
    """
    torch.set_num_threads(threads)
    peaks = [peak_kernels(matmul)]
    start = time.perf_counter()
    forward = setup(path, work, threads)
    out = forward()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    peaks.append(peak_kernels(matmul))
    kernels = {name: max(p[name] for p in peaks) for name in peaks[0]}
    np.save(work / f"{path}.npy", np.asarray(out, np.float32))
    print(json.dumps({"first": first, "best": min(times), "median": statistics.median(times), "peak_gib": rss,
                      "kernels": kernels, "peak_gflops": max(kernels.values())}))


def run_child(args, work: Path, path: str) -> dict | None:
    command = [sys.executable, __file__, "--child", path, "--work", str(work), "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--matmul", str(args.matmul)]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"{path}: failed (exit {result.returncode}): {tail}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(4 / mse)


def band_psnr(out: np.ndarray, reference: np.ndarray, coc: np.ndarray) -> dict[str, float]:
    """PSNR of ``out`` against ``reference`` (``(1, H, W, 3)`` in [-1, 1]) in each band of the scene's CoC."""
    from bggan.evaluate.bands import band_metrics

    def nchw(a):
        return torch.from_numpy(a).permute(0, 3, 1, 2)

    (per_band,) = band_metrics(nchw(out), nchw(reference), torch.from_numpy(coc)[None])
    return {name: m.psnr for name, m in per_band.items()}


def prepare(work: Path, h: int, w: int, weights: str | None, tflite: bool) -> tuple[str, dict]:
    """Weights, input (with its CoC map) and calibration scenes in ``work`` (and the TFLite export when asked
    for); returns the model's summary and config."""
    from bggan.data.synthetic import render_sample

    if weights:
        model = load_generator(weights)
    else:
        torch.manual_seed(0)
        model = GlassNet(init="he")
    save_generator(model, work / "weights.safetensors")
    samples = [render_sample(seed, h, w) for seed in range(3)]
    scenes = np.stack([s["input"] for s in samples]).astype(np.float32) / np.float32(127.5) - 1
    np.save(work / "input.npy", scenes[:1])
    np.save(work / "coc.npy", samples[0]["coc"])
    np.save(work / "calibration.npy", scenes[1:])
    if tflite:
        print("exporting to TFLite (bggan-export) ...", flush=True)
        subprocess.run([str(Path(sys.executable).parent / "bggan-export"), f"weights={work / 'weights.safetensors'}",
                        f"size=[{h},{w}]", f"out={work / 'export'}", "gpu=off"], check=True, capture_output=True)
    return model.summary() + ("" if weights else ", He-scaled random weights"), model.config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1024x1536", help="HxW (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed forwards per path after the first")
    p.add_argument("--paths", help=f"comma-separated, from {', '.join(PATHS)} (default: all but TFLite)")
    p.add_argument("--tflite", action="store_true", help="also the TFLite files of a bggan-export (adds minutes)")
    p.add_argument("--weights", help="a generator (.safetensors, .ckpt); default: the released architecture with "
                                     "He-scaled random weights (its FLOPs are counted either way)")
    p.add_argument("--matmul", type=int, default=4096, help="side of the square matmuls that measure the peak, the "
                   "convolution scaled with it (default: %(default)s; smaller is quicker and reads lower)")
    p.add_argument("--json", type=Path, help="also write the results, with the machine, to this file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.work, args.threads, args.repeats, args.matmul)
        return
    paths = args.paths.split(",") if args.paths else DEFAULT_PATHS + (["tflite-fp32", "tflite-fp16"] * args.tflite)
    unknown = [name for name in paths if name not in PATHS]
    if unknown:
        p.error(f"unknown path(s) {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    h, w = parse_size(args.size)
    sys.path.insert(0, str(Path(__file__).parent))
    from forward_cpu import count_flops

    machine = cpu()
    print(f"CPU: {describe(machine)}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        summary, config = prepare(work, h, w, args.weights,
                                  args.tflite or any(name.startswith("tflite") for name in paths))
        gflop = count_flops({k: config[k] for k in ("c1", "c2", "n_res", "norm")}, h, w) / 1e9
        print(f"{summary}\nat {h}x{w}: {gflop:.1f} GFLOP per forward; {args.threads} threads, torch "
              f"{torch.__version__}, {args.repeats} timed forwards per path after the first", flush=True)
        results = {}
        for name in [REFERENCE, *[n for n in paths if n != REFERENCE]] if REFERENCE in paths else paths:
            results[name] = run_child(args, work, name)
            print(f"  {name}: {results[name]}", flush=True)
        reference = np.load(work / f"{REFERENCE}.npy") if results.get(REFERENCE) else None
        outputs = {name: np.load(work / f"{name}.npy") for name, r in results.items() if r}
        coc = np.load(work / "coc.npy")
    yard = (results.get("tf-eager") or {}).get("best")
    done = [r for r in results.values() if r]
    print("\nfp32 kernels, GFLOP/s, measured beside each path (the best of them is each path's peak):")
    for kernel in done[0]["kernels"] if done else []:
        speeds = [r["kernels"][kernel] for r in done]
        print(f"  {kernel}: {min(speeds):.0f}-{max(speeds):.0f}")
    print(f"{'path':<17} {'first s':>8} {'best s':>7} {'median s':>8} {'GFLOP/s':>7} {'% peak':>6} "
          f"{'x yardstick':>11} {'PSNR dB':>7} {'in/out of focus':>15} {'peak GiB':>8}  what")
    for name, r in results.items():
        if not r:
            print(f"{name:<17} {'failed':>8}")
            continue
        speed = gflop / r["best"]
        ratio = f"{yard / r['best']:.2f}" if yard else "-"
        quality, bands = "-", "-"
        if reference is not None and name != REFERENCE:
            quality = f"{psnr(outputs[name], reference):.1f}"
            per_band = band_psnr(outputs[name], reference, coc)
            bands = "/".join("-" if per_band[b] is None else f"{per_band[b]:.1f}" for b in ("in_focus", "out_of_focus"))
        print(f"{name:<17} {r['first']:8.2f} {r['best']:7.2f} {r['median']:8.2f} {speed:7.0f} {100 * speed / r['peak_gflops']:6.0f} "
              f"{ratio:>11} {quality:>7} {bands:>15} {r['peak_gib']:8.2f}  {PATHS[name]}")
        if reference is not None and name != REFERENCE:
            r["psnr_db"], r["psnr_bands_db"] = float(quality), per_band
        r["gflops"], r["x_yardstick"] = speed, (yard / r["best"] if yard else None)
    if args.json:
        write_json(args.json, {"machine": machine, "threads": args.threads, "size_hw": [h, w], "gflop": gflop,
                               "torch": torch.__version__, "commit": commit(), "date": time.strftime("%Y-%m-%d"),
                               "model": summary, "paths": results})
        print(f"wrote {args.json}")


def commit() -> str | None:
    """The repository's commit (``+`` when its files have changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def write_json(path: Path, data: dict) -> None:
    from bggan.files import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
