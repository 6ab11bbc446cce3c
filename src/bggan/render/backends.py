"""The models a photo can be rendered with: PyTorch weights, or an exported ONNX or TFLite file (CPU or GPU).

Every backend maps one image ``(H, W, 3)`` float32 in [-1, 1] (NHWC without the batch) to the bokeh image of the
same shape and range. ``fixed_size`` is the only size an exported model takes (None: any size, the model pads to a
multiple of 8 itself). A backend whose model takes the aperture as an input (``conditional``) renders at its
``strength`` (``1.8 / f-number``, :mod:`bggan.models.condition`), set with :func:`set_aperture`; one whose model is
depth-aware (``takes_defocus``, :mod:`bggan.models.defocus`) also takes the photo's defocus map ``(H, W)`` px.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from bggan.devices import cpu_has_bf16
from bggan.errors import BgganError
from bggan.models.condition import requested_strength

BACKENDS = ("torch", "onnx", "tflite", "tflite-gpu")
#: In an export folder (bggan-export), the file each backend reads.
EXPORT_FILES = {"onnx": "model.onnx", "tflite": "model_float32.tflite", "tflite-gpu": "model_float32.tflite"}


PRECISIONS = ("fp32", "bf16", "int8")


def set_aperture(backend, f_number: float | None) -> None:
    """Render at ``f_number`` from now on (``inf``: no blur), or, with ``None``, the model's one fixed look.

    Raises:
        BgganError: a model with the aperture as an input without an f-number, one without it with an f-number,
            or an f-number that is not positive.
    """
    backend.strength = requested_strength(getattr(backend, "conditional", False), f_number, sweep=True)


class TorchBackend:
    """A generator from a ``.ckpt`` or ``.safetensors`` file on the best device, in its fastest settings.

    The device is :func:`bggan.devices.pick_device`'s (CUDA when there is one, with cuDNN autotuning and TF32,
    else the CPU); channels-last memory layout either way; inference mode. On the CPU the normalizations
    work on the channels-last memory directly (:mod:`bggan.models.blocks`), and a photo rendered whole runs
    with glibc keeping the memory the forward frees (:func:`bggan.render.renderer.render_photo`):
    ``bench/cpu_paths.py`` measures each step.

    ``precision``: ``fp32`` (exact: on the CPU the residual blocks' convolutions run Winograd F(4x4, 3x3),
    :mod:`bggan.models.winograd`, within float32 rounding of any PyTorch forward: 131 dB from direct ones), ``bf16``
    (convolutions in bfloat16 under autocast, statistics in float32; on a CPU with AMX 2-4x faster, 53-67 dB
    from fp32 as measured in the README; refused on a CPU without bfloat16 instructions, where it is emulated)
    or ``int8`` (convolutions in int8 with per-channel weights and each input's own range,
    :mod:`bggan.models.int8`; on the CPU, its default device; measured in the README).
    """

    fixed_size: tuple[int, int] | None = None
    name = "torch"
    strength: float | None = None  #: see :func:`set_aperture`
    takes_defocus = False

    def __init__(self, weights: str | os.PathLike, device: str | None = None, precision: str = "fp32") -> None:
        from bggan.devices import pick_device
        from bggan.models.weights import load_generator

        if precision not in PRECISIONS:
            raise BgganError(f"--precision {precision}: one of {', '.join(PRECISIONS)}")
        self.device = pick_device("cpu" if precision == "int8" and device in (None, "auto") else device)
        if precision == "bf16" and self.device.type == "cpu" and not cpu_has_bf16():
            raise BgganError("--precision bf16 needs a CPU with bfloat16 instructions (AVX512-BF16 or AMX); "
                             "this one has none, use fp32")
        if precision == "int8" and self.device.type != "cpu":
            raise BgganError(f"--precision int8 runs on the CPU (oneDNN), not {self.device}; add --device cpu")
        self.precision = precision
        self.model = load_generator(weights, map_location=self.device).to(memory_format=torch.channels_last)
        if precision == "int8":
            from bggan.models.int8 import int8_available, to_int8

            if not int8_available():
                raise BgganError("--precision int8 needs a PyTorch with oneDNN's int8 convolutions; this one has none")
            self.model = to_int8(self.model)
        elif precision == "fp32" and self.device.type == "cpu":
            from bggan.models.winograd import to_winograd

            self.model = to_winograd(self.model)
        self.conditional, self.takes_defocus = self.model.takes_aperture, self.model.takes_defocus
        aperture = (f", the aperture as an input ({self.model.condition})" if self.conditional else
                    ", depth-aware (a defocus map as an input)" if self.takes_defocus else "")
        self.description = f"PyTorch on {self.device} ({precision}, channels_last{aperture}), {Path(weights).name}"

    def __call__(self, image: np.ndarray, defocus: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None]  # channels_last view
        condition = self.strength
        if self.takes_defocus:
            condition = torch.from_numpy(np.ascontiguousarray(defocus, dtype=np.float32)).to(self.device)[None, None]
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, self.precision == "bf16"):
            final, _ = self.model(x, condition)
        return final[0].permute(1, 2, 0).float().cpu().numpy()


class OnnxBackend:
    """An exported ``model.onnx`` (NCHW, fixed size) on ONNX Runtime's CPU provider."""

    name = "onnx"
    strength: float | None = None

    def __init__(self, path: Path, threads: int = 0) -> None:
        from bggan.export.onnx_file import OUTPUT_NAME, split_inputs
        from bggan.export.runners import onnx_session

        try:
            self.session = onnx_session(path, threads)
            shapes = {i.name: i.shape for i in self.session.get_inputs()}
            image, self.second = split_inputs(shapes)
        except Exception as e:  # noqa: BLE001  (ONNX Runtime's own types, e.g. InvalidProtobuf, derive from Exception)
            raise BgganError(f"{path}: not an ONNX model ONNX Runtime can load ({str(e).splitlines()[0]})") from None
        self.names = image, OUTPUT_NAME
        self.takes_defocus, self.conditional = _second_input(shapes, self.second)
        self.fixed_size = _fixed(shapes[image][2:4], path)
        self.description = (f"ONNX Runtime (CPU), {path.name}, {self.fixed_size[0]}x{self.fixed_size[1]}"
                            + _input_note(self.conditional, self.takes_defocus))

    def __call__(self, image: np.ndarray, defocus: np.ndarray | None = None) -> np.ndarray:
        from bggan.export.onnx_file import condition_input

        inp, out = self.names
        feed = {inp: image.transpose(2, 0, 1)[None]}
        if self.second is not None:
            feed[self.second] = condition_input(defocus if self.takes_defocus else self.strength, nhwc=False)
        return self.session.run([out], feed)[0][0].transpose(1, 2, 0)


class TfliteBackend:
    """An exported ``.tflite`` model (NHWC, fixed size) on LiteRT's CPU interpreter (XNNPACK)."""

    name = "tflite"
    strength: float | None = None

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from bggan.export.runners import tflite_inputs, tflite_interpreter

        try:
            self.interpreter = tflite_interpreter(path, threads or os.cpu_count() or 1)
            self.input, self.second = tflite_inputs(self.interpreter)
        except (ValueError, RuntimeError) as e:
            raise BgganError(f"{path}: not a TFLite model LiteRT can load ({str(e).splitlines()[0]})") from None
        self.output = self.interpreter.get_output_details()[0]
        shapes = {"image": list(self.input["shape"]), **({"second": list(self.second["shape"])} if self.second else {})}
        self.takes_defocus, self.conditional = _second_input(shapes, "second" if self.second else None)
        self.fixed_size = _fixed(self.input["shape"][1:3], path)
        kernels = ", built-in kernels: XNNPACK's memory grows with this graph" if self.takes_defocus else ""
        self.description = (f"TFLite (LiteRT, CPU{kernels}), {path.name}, {self.fixed_size[0]}x{self.fixed_size[1]}"
                            + _input_note(self.conditional, self.takes_defocus))

    def __call__(self, image: np.ndarray, defocus: np.ndarray | None = None) -> np.ndarray:
        from bggan.export.onnx_file import condition_input

        self.interpreter.set_tensor(self.input["index"], image[None].astype(np.float32))
        if self.second is not None:
            self.interpreter.set_tensor(self.second["index"], condition_input(
                defocus if self.takes_defocus else self.strength, nhwc=True))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])[0].copy()


class TfliteGpuBackend:
    """An exported ``.tflite`` model on LiteRT's GPU accelerator alone (:mod:`bggan.litert_gpu`: Vulkan).

    The runtime comes from ``make gpu-runtime`` (``python -m bggan.litert_gpu setup``); ``BGGAN_VULKAN=system``
    uses the machine's own GPU driver, else Mesa's software one (correct, and slow: a CPU). ``precision``:
    ``fp16``, the GPU's default (what a phone runs), or ``fp32`` (``enforce_f32``).

    Raises:
        BgganError: no runtime, no Vulkan device, or a model the GPU cannot run fully; one line each.
    """

    name = "tflite-gpu"
    strength: float | None = None

    def __init__(self, path: Path, precision: str = "fp16") -> None:
        from bggan.export.onnx_file import split_inputs
        from bggan.litert_gpu import GpuModel

        self.model = GpuModel(path, precision)
        if not self.model.fully_accelerated:
            self.model.close()
            raise BgganError(f"{path}: not fully accelerated on the GPU ({self.model.adapter})")
        shapes = {name: list(spec["shape"]) for name, spec in self.model.inputs.items()}
        self.image_name, self.second = split_inputs(shapes)
        self.takes_defocus, self.conditional = _second_input(shapes, self.second)
        self.fixed_size = _fixed(shapes[self.image_name][1:3], path)
        self.description = (f"TFLite on LiteRT's GPU accelerator ({precision}, {self.model.adapter or 'unnamed adapter'}"
                            f"), {path.name}, {self.fixed_size[0]}x{self.fixed_size[1]}"
                            + _input_note(self.conditional, self.takes_defocus))

    def __call__(self, image: np.ndarray, defocus: np.ndarray | None = None) -> np.ndarray:
        from bggan.export.onnx_file import condition_input

        feed = {self.image_name: image[None].astype(np.float32)}
        if self.second is not None:
            feed[self.second] = condition_input(defocus if self.takes_defocus else self.strength, nhwc=True)
        (y,) = self.model.run(feed).values()
        return y[0]

    def close(self) -> None:
        self.model.close()


def _second_input(shapes: dict, second: str | None) -> tuple[bool, bool]:
    """``(takes_defocus, conditional)`` of an exported model from its inputs' shapes: its second input is a defocus
    map (one channel of the image's size) or the aperture's ``1x1x1x1`` strength."""
    from bggan.export.onnx_file import takes_map

    defocus = takes_map(shapes, second)
    return defocus, second is not None and not defocus


def _input_note(conditional: bool, takes_defocus: bool) -> str:
    return ", the aperture as an input" if conditional else ", depth-aware (a defocus map as an input)" if takes_defocus else ""


def _fixed(hw, path: Path) -> tuple[int, int]:
    if len(hw) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in hw):
        raise BgganError(f"{path}: the model's input has no fixed height and width ({list(hw)})")
    return int(hw[0]), int(hw[1])


def backend_for(weights: str | os.PathLike, backend: str = "auto", device: str | None = None,
                gpu_precision: str = "fp16", precision: str = "fp32"):
    """The backend for ``weights``: a ``.ckpt``/``.safetensors`` (torch), a ``.onnx`` or ``.tflite`` file, or a
    bggan-export folder (``auto`` picks its TFLite model, the one phones run).

    Raises:
        BgganError: the path does not exist, or does not fit the backend asked for.
    """
    path = Path(weights)
    if not path.exists():
        raise BgganError(f"--weights {path}: no such file or folder")
    if backend == "auto":
        backend = {".onnx": "onnx", ".tflite": "tflite"}.get(path.suffix.lower(), "tflite" if path.is_dir() else "torch")
    if path.is_dir():
        if backend == "torch":
            raise BgganError(f"--weights {path} is a folder; the torch backend takes a .ckpt or .safetensors file")
        path = path / EXPORT_FILES[backend]
        if not path.is_file():
            raise BgganError(f"{path}: no such file (is {path.parent} a bggan-export folder?)")
    suffix = {"onnx": ".onnx", "tflite": ".tflite", "tflite-gpu": ".tflite"}.get(backend)
    if suffix and path.suffix.lower() != suffix:
        raise BgganError(f"--backend {backend} takes a {suffix} file or an export folder, got {path}")
    if precision != "fp32" and backend != "torch":
        raise BgganError(f"--precision {precision} is for the torch backend; an exported model has its own "
                         "(pick its file: model_float16.tflite, model_int8.tflite)")
    if backend == "torch":
        return TorchBackend(path, device, precision)
    if backend == "tflite-gpu":
        return TfliteGpuBackend(path, gpu_precision)
    module = {"onnx": "onnxruntime", "tflite": "ai_edge_litert"}[backend]
    if importlib.util.find_spec(module) is None:
        raise BgganError(f"--backend {backend} needs {module}, from the export extra: pip install -e '.[export]'")
    return OnnxBackend(path) if backend == "onnx" else TfliteBackend(path)
