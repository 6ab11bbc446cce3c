"""The whole bridge: generator weights -> ONNX -> TensorFlow SavedModel -> TFLite files, parity at every hop.

:func:`export` writes into a hidden staging folder beside the output folder and renames it into place
only when every hop met its threshold and every op rule held, so a failed or interrupted export never
leaves files under the final names.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bggan.errors import BgganError, ExportFailed
from bggan.export.config import PARITY_F_NUMBERS, ExportConfig, ExportResult
from bggan.export.gpu_hop import gpu_hop
from bggan.export.meter import Meter, peak_rss_bytes
from bggan.export.parity import Parity, compare
from bggan.export.report import write_report
from bggan.files import FILE_MODE, LOST_ERRNOS, check_output_folder, sha256, write_error
from bggan.models.condition import aperture_label, strength_for

FILE_MODE_MASK = 0o666 & ~FILE_MODE  # the umask's bits (mkdtemp makes 0700 folders)

EXTRA_MODULES = ("onnx", "onnxscript", "onnxsim", "onnxruntime", "onnx2tf", "tensorflow", "ai_edge_litert")
def require_extra() -> None:
    """BgganError naming the missing package when the ``export`` extra is not installed."""
    import importlib.util

    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise BgganError(f"the export extra is not installed (missing {', '.join(missing)}): "
                         "pip install -e '.[export]'")


def check_config(cfg: ExportConfig) -> Path:
    """Every check that needs no conversion, done first; returns the output folder."""
    from bggan.models.glassnet import SIZE_MULTIPLE

    h, w = cfg.size
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE or min(h, w) < SIZE_MULTIPLE:
        raise BgganError(f"size must be two multiples of {SIZE_MULTIPLE} (H, W), got {h}x{w}")
    if cfg.parity_images < 1 or cfg.calibration_count < 1:
        raise BgganError("parity_images and calibration_count must be at least 1")
    if not Path(cfg.weights).is_file():
        raise BgganError(f"{cfg.weights}: no such file")
    if cfg.calibration_dir is not None and not Path(cfg.calibration_dir).is_dir():
        raise BgganError(f"calibration folder {cfg.calibration_dir} does not exist")
    out = check_output_folder(cfg.out_dir(), "out")
    if out.exists() and not cfg.overwrite:
        raise BgganError(f"{out} exists; pass --overwrite to replace it")
    return out


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _size(path: Path) -> int:
    """Bytes in a file, or in all files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _publish(staging: Path, out: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` (allowed by ``overwrite``) is removed only after."""
    old = None
    if out.exists():
        if not overwrite:
            raise BgganError(f"{out} exists; pass --overwrite to replace it")
        old = out.with_name(f".{out.name}.old-{staging.name}")
        out.rename(old)
    staging.chmod(0o777 & ~FILE_MODE_MASK)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export(cfg: ExportConfig, log=print) -> ExportResult:
    """Run the bridge for ``cfg``; returns what was measured. ``log`` gets one line per step.

    Raises:
        BgganError: bad input (exit code 2); ExportFailed: a hop missed its threshold or an op rule
        (exit code 1). Either way nothing is left under ``cfg.out_dir()``.
    """
    out = check_config(cfg)
    require_extra()
    from bggan.models import load_generator

    generator = load_generator(cfg.weights, prefer_ema=cfg.ema)  # BgganError for anything not a generator
    h, w = cfg.size
    if h % generator.size_multiple or w % generator.size_multiple:
        raise BgganError(f"size must be two multiples of {generator.size_multiple} for this generator (its blur stack "
                         f"pools wide disks by up to {generator.size_multiple}), got {h}x{w}")
    new_parent = not out.parent.exists()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as e:
        raise BgganError(f"cannot write to {out.parent}: {e.strerror}") from None
    try:
        try:
            result = _convert(cfg, generator, staging, log)
            result.source = {"weights": str(cfg.weights), "sha256": sha256(cfg.weights),
                             "generator": generator.summary(), "config": generator.config, "ema": cfg.ema}
            result.files = {p.name: _size(p) for p in sorted(staging.iterdir())}
            write_report(result, cfg, staging)
            _publish(staging, out, cfg.overwrite)
        except (BgganError, MemoryError):
            raise
        except Exception as e:  # one line, not a traceback through TensorFlow
            lost = isinstance(e, OSError) and e.errno in LOST_ERRNOS and (e.errno != errno.ENOENT
                                                                          or not staging.is_dir())
            if lost:  # a full disk, a removed output folder, named as such
                raise write_error(f"cannot write the export in {out.parent}", e) from None
            raise ExportFailed(f"conversion failed: {type(e).__name__}: {_first_line(e)}") from e
        result.out = out
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # the folder may be gone, or hold what others put there meanwhile
            if new_parent and not any(out.parent.iterdir()):
                out.parent.rmdir()  # made for this export, which failed


def _convert(cfg: ExportConfig, generator, staging: Path, log) -> ExportResult:
    import time

    from bggan.export.depth_graph import DepthExportGraph
    from bggan.export.graph import FP16_MAX, ExportGraph, SquaredDeviationPeak
    from bggan.export.inputs import export_depths, export_images, to_model_nhwc
    from bggan.export.onnx_file import onnx_op_census, write_onnx
    from bggan.export.runners import run_onnx, run_saved_model, run_tflite, run_torch
    from bggan.export.tf_model import onnx2tf_samples, onnx_to_keras, save_saved_model, write_tflite
    from bggan.export.tflite_check import check_tflite

    start = time.perf_counter()
    h, w = cfg.size
    meter = Meter()
    result = ExportResult(out=staging, steps=meter.steps)
    thresholds = {"float32": cfg.min_psnr_float32, "float16": cfg.min_psnr_float16}

    def check(parity: Parity) -> None:
        result.parity.append(parity)
        log(f"  {parity.line()}")
        if not parity.passed:
            raise ExportFailed(f"parity failed at {parity.line()}")

    with meter.step("images"):
        n_images = max(cfg.parity_images, cfg.calibration_count if cfg.int8 else 0)
        depths = None
        if generator.takes_defocus:
            images, depths = export_depths(n_images, h, w, cfg.calibration_dir, cfg.seed)
        else:
            images = export_images(n_images, h, w, cfg.calibration_dir, cfg.seed)
        x, conditions = parity_inputs(to_model_nhwc(images[:cfg.parity_images]), generator.condition,
                                      None if depths is None else depths[:cfg.parity_images])
    source = cfg.calibration_dir or f"synthetic pairs, seeds {cfg.seed}..{cfg.seed + n_images - 1}"
    f_numbers = ", ".join(aperture_label(f) for f in PARITY_F_NUMBERS)
    log(f"[1/6] {len(images)} image(s) at {h}x{w} from {source}"
        + (f"; each at {f_numbers} (the aperture is an input)" if generator.takes_aperture else "")
        + (f"; each with its defocus map at {f_numbers} ({'the scene' if cfg.calibration_dir is None else 'a ground plane'}"
           "'s depth, focused on the subject)" if generator.takes_defocus else ""))

    with meter.step("pytorch"):
        with SquaredDeviationPeak(generator) as peak:
            reference = run_torch(generator, x, conditions)
        result.squared_deviation_max = peak.value
        graph = (DepthExportGraph if generator.takes_defocus else ExportGraph)(generator, h, w)
        check(compare("export graph (pool norm, no concat)", reference, run_torch(graph, x, conditions),
                      thresholds["float32"]))
        if result.squared_deviation_max > FP16_MAX:
            log(f"  warning: a normalization's squared deviation reaches {result.squared_deviation_max:.4g} here, past "
                f"fp16's {FP16_MAX:g}: on a GPU's fp16 path that block overflows (fp32 is fine)")

    log("[2/6] PyTorch -> ONNX")
    onnx_path = staging / "model.onnx"
    with meter.step("onnx"):
        replacements = write_onnx(graph, onnx_path)
        result.onnx_ops = onnx_op_census(onnx_path)
        if "InstanceNormalization" in result.onnx_ops or "AveragePool" not in result.onnx_ops:
            raise ExportFailed(f"model.onnx: normalization is not in average-pool form ({result.onnx_ops})")
        check(compare("onnx (onnxruntime)", reference, run_onnx(onnx_path, x, conditions=conditions),
                      thresholds["float32"]))

    log("[3/6] ONNX -> TensorFlow SavedModel (onnx2tf, NHWC)")
    saved_model = staging / "saved_model"
    with meter.step("tensorflow"):
        keras_model = onnx_to_keras(onnx_path, replacements, staging / "work", onnx2tf_samples(images))
        save_saved_model(keras_model, saved_model, h, w, generator.condition)
        del keras_model
        shutil.rmtree(staging / "work", ignore_errors=True)
        check(compare("saved_model", reference, run_saved_model(saved_model, x, conditions), thresholds["float32"]))

    kinds = ["float32", "float16"] + (["int8_dynamic_range"] if cfg.int8_dynamic_range else []) \
        + (["int8"] if cfg.int8 else [])
    log(f"[4/6] SavedModel -> TFLite ({', '.join(kinds)})")
    tflite_float32 = None
    for kind in kinds:
        path = staging / f"model_{kind}.tflite"
        with meter.step(f"tflite_{kind}"):
            calibration = calibration_samples(to_model_nhwc(images[:cfg.calibration_count]), generator.condition,
                                              None if depths is None else depths[:cfg.calibration_count]) \
                if kind == "int8" else ()
            write_tflite(saved_model, path, kind, calibration)
            y = run_tflite(path, x, cfg.threads, conditions)
            if kind == "float32":
                tflite_float32 = y
            check(compare(path.name, reference, y, thresholds.get(kind)))
            if generator.takes_defocus and generator.gate is not None:
                check_zero_defocus(result, path.name, x, y, conditions, exact=kind.startswith("float"), log=log)
            if kind.startswith("int8"):
                check(compare(path.name, tflite_float32, y, None, against="model_float32.tflite"))
            result.tflite[path.name] = check_tflite(path)

    log("[5/6] op rules (the GPU delegate's op list, no layout copies)")
    for name, tflite in result.tflite.items():
        ops = ", ".join(f"{op} {n}" for op, n in tflite.ops.items())
        log(f"  {name}: ops {'allowed' if tflite.ops_allowed else 'NOT allowed'}; {ops}")
        if name.startswith("model_float") and (not tflite.ops_allowed or "AVERAGE_POOL_2D" not in tflite.ops):
            raise ExportFailed(f"{name}: ops outside the GPU list: {tflite.outside_gpu_list}, forbidden: "
                               f"{tflite.forbidden}")

    log("[6/6] LiteRT's GPU accelerator, no CPU fallback (fp32 and fp16)")
    with meter.step("gpu"):
        result.gpu = gpu_hop([staging / name for name in result.tflite], x, reference, cfg.gpu,
                             {"fp32": cfg.min_psnr_gpu_fp32, "fp16": cfg.min_psnr_gpu_fp16}, log, conditions)
        if result.gpu.status == "ran":
            kind = "a software GPU: its timings are not a phone's" if result.gpu.software else "a GPU"
            log(f"  adapter: {result.gpu.adapter} ({kind})")
    result.peak_rss_gb = round(peak_rss_bytes() / 2**30, 2)
    result.seconds = round(time.perf_counter() - start, 1)
    return result


def check_zero_defocus(result: ExportResult, name: str, x: np.ndarray, y: np.ndarray, conditions: np.ndarray,
                       exact: bool, log=print) -> None:
    """A gated depth-aware model returns the photo exactly where its defocus map is all zeros: record the largest
    difference of file ``name``'s outputs ``y`` from their inputs ``x`` on those parity rows, and for a float file
    (``exact``) fail the export unless it is 0."""
    rows = np.flatnonzero(~conditions.reshape(len(conditions), -1).any(axis=1))
    worst = float(np.abs(y[rows] - x[rows]).max())
    result.zero_defocus_max_abs[name] = worst
    log(f"  {name}, a defocus map of zeros: max abs {worst:.3g} from the photo"
        + (" (exact)" if worst == 0 else " (needs exactly 0)" if exact else " (reported)"))
    if exact and worst != 0:
        raise ExportFailed(f"{name}: a defocus map of zeros does not return the photo exactly (max abs {worst:.3g})")


def parity_inputs(images: np.ndarray, condition: str | None, depths: list | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """The parity inputs and their conditions: ``images`` ``(N, H, W, 3)`` as they are (no condition); for a generator
    with the aperture as an input each of them at every f-number of :data:`PARITY_F_NUMBERS` with those strengths
    ``(N * K,)``; for a depth-aware one (``condition="defocus"``) each with its defocus map at each of those f-numbers,
    ``(N * K, H, W)``, from ``depths`` (:func:`~bggan.export.inputs.export_depths`)."""
    from bggan.export.inputs import defocus_maps

    if condition is None:
        return images, None
    if condition == "defocus":
        return np.repeat(images, len(PARITY_F_NUMBERS), axis=0), defocus_maps(depths, PARITY_F_NUMBERS)
    strengths = np.array([strength_for(f) for f in PARITY_F_NUMBERS], np.float32)
    return np.repeat(images, len(strengths), axis=0), np.tile(strengths, len(images))


def calibration_samples(images: np.ndarray, condition: str | None, depths: list | None = None) -> list:
    """int8 calibration inputs: each image ``(1, H, W, 3)``, or for two inputs ``{image, second input}`` with the
    f-numbers of :data:`PARITY_F_NUMBERS` in turn (the strength, or the defocus map of ``depths``)."""
    from bggan.export.inputs import defocus_maps
    from bggan.export.onnx_file import DEFOCUS_NAME, INPUT_NAME, STRENGTH_NAME, condition_input, strength_input

    if condition is None:
        return [image[None] for image in images]
    f_numbers = [PARITY_F_NUMBERS[i % len(PARITY_F_NUMBERS)] for i in range(len(images))]
    if condition == "defocus":
        return [{INPUT_NAME: image[None], DEFOCUS_NAME: condition_input(defocus_maps([depth], (f,))[0], nhwc=True)}
                for image, depth, f in zip(images, depths, f_numbers, strict=True)]
    return [{INPUT_NAME: image[None], STRENGTH_NAME: strength_input(strength_for(f))}
            for image, f in zip(images, f_numbers, strict=True)]
