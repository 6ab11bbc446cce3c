"""Import the released BGGAN generator from its TensorFlow checkpoint.

The authors saved ``tf.train.Checkpoint(generator=model)`` from a Keras functional model.
Its variables are read with ``tf.train.load_checkpoint`` (no model code needed) and mapped
to :class:`~bggan.models.glassnet.GlassNet` by layer creation order and shape. Two key schemes
name the same layers, in the same order:

* TF 2.2 / tf.keras (Keras 2): ``generator/layer_with_weights-K/{kernel,bias}/.ATTRIBUTES/VARIABLE_VALUE``,
  ``K`` counting only layers that have weights;
* Keras 3: ``generator/_operations/N/{kernel,_kernel,bias}/...``, ``N`` counting every layer.

Conv kernels are stored ``(kh, kw, in, out)`` and transposed-conv kernels ``(kh, kw, out, in)``;
PyTorch wants ``(out, in, kh, kw)`` and ``(in, out, kh, kw)``: both are ``permute(3, 2, 0, 1)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bggan.errors import BgganError
from bggan.files import identify
from bggan.models.glassnet import GlassNet

_KEY = re.compile(r"^(?P<prefix>.+?)/(?:layer_with_weights-|_operations/)(?P<index>\d+)/_?(?P<name>kernel|bias)"
                  r"/\.ATTRIBUTES/VARIABLE_VALUE$")
#: Layers with weights outside the residual blocks: encoder 4 + decoder 3 + output 1 per stage, + the bridge.
_FIXED_LAYERS = 17


def _short(key: str) -> str:
    """A variable key without its constant suffix, for messages."""
    return key.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE")


def tf_to_torch(kernel: np.ndarray) -> torch.Tensor:
    """TF kernel ``(kh, kw, a, b)`` -> PyTorch layout ``(b, a, kh, kw)`` (conv and transposed conv alike)."""
    return torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)).permute(3, 2, 0, 1).contiguous()


def torch_to_tf(weight: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`tf_to_torch`."""
    return weight.detach().cpu().permute(2, 3, 1, 0).contiguous().numpy()


@dataclass
class ImportedGenerator:
    """What :func:`import_tf_checkpoint` found and built."""

    model: GlassNet
    n_variables: int
    key_scheme: str  #: "layer_with_weights" (Keras 2) or "_operations" (Keras 3)


def _import_tensorflow():
    from bggan.quiet import import_tensorflow

    try:
        tf = import_tensorflow()
    except ImportError:
        raise BgganError("reading TensorFlow checkpoints needs TensorFlow: pip install 'bggan[export]'") from None
    return tf


def _layer_keys(keys: list[str], prefix: str, path: Path) -> tuple[list[dict[str, str]], str]:
    """Group the checkpoint's variable keys under ``prefix`` by layer, in creation order."""
    layers: dict[int, dict[str, str]] = {}
    schemes = set()
    for key in keys:
        m = _KEY.match(key)
        if m is None or m["prefix"] != prefix:
            continue
        schemes.add("_operations" if "/_operations/" in key else "layer_with_weights")
        layer = layers.setdefault(int(m["index"]), {})
        if m["name"] in layer:
            raise BgganError(f"{path}: layer {m['index']} has two {m['name']} variables")
        layer[m["name"]] = key
    if not layers:
        tops = sorted({k.split("/", 1)[0] for k in keys if "/" in k} - {"save_counter"})
        raise BgganError(f"{path}: no '{prefix}/' layer variables (top-level objects: {', '.join(tops) or 'none'})")
    if len(schemes) > 1:
        raise BgganError(f"{path}: mixes Keras 2 and Keras 3 variable names under '{prefix}/'")
    return [layers[i] for i in sorted(layers)], schemes.pop()


def _infer_config(kernel_shapes: list[list[int]], path: Path) -> dict:
    """c1, c2 and n_res from the kernel shapes in creation order (then every shape is checked)."""
    n = len(kernel_shapes)
    for i, shape in enumerate(kernel_shapes):
        if len(shape) != 4:
            raise BgganError(f"{path}: the kernel of layer {i} has shape {shape}, expected 4-D")
    if n < _FIXED_LAYERS + 4 or (n - _FIXED_LAYERS) % 4:
        raise BgganError(f"{path}: found {n} layers with weights; a Glass-Net has 17 + 4 * n_res "
                         f"(53 for the released model)")
    n_res = (n - _FIXED_LAYERS) // 4
    first_refine = 4 + 2 * n_res + 4  # stage 1: encoder, residual convs, decoder, output conv
    return {"c1": kernel_shapes[0][-1], "c2": kernel_shapes[first_refine][-1], "n_res": n_res}


def check_tf_checkpoint(path: str | os.PathLike) -> None:
    """What TensorFlow could read as a checkpoint, told apart by its files alone (no TensorFlow import): a folder
    with a ``checkpoint`` file or ``*.index`` files, a prefix with its ``.index`` file, or that ``.index`` or
    ``.data-*`` file itself.

    Raises:
        BgganError: one line saying what the path is instead.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "checkpoint").is_file() and not any(path.glob("*.index")):
            raise BgganError(f"{path}: a folder without a TensorFlow checkpoint (no 'checkpoint' or .index file)")
    elif path.is_file():
        if path.suffix != ".index" and ".data-" not in path.name:
            raise BgganError(f"{path} is {identify(path)}, not a TensorFlow checkpoint (give its folder, or its "
                             "prefix such as DIR/ckpt-12)")
    elif not Path(f"{path}.index").is_file():
        raise BgganError(f"{path}: no such file or folder")


def import_tf_checkpoint(path: str | os.PathLike, prefix: str = "generator",
                         norm: str = "official") -> ImportedGenerator:
    """Read a released-layout TensorFlow checkpoint into a :class:`GlassNet` (eval mode).

    Args:
        path: checkpoint folder (its latest checkpoint is used) or checkpoint prefix (``.../ckpt-12``).
        prefix: top-level object the generator was saved as (``tf.train.Checkpoint(generator=...)``).
        norm: normalization of the returned model; ``"official"`` reproduces the released outputs.

    Raises:
        BgganError: not a checkpoint, no generator in it, missing or extra variables, or a shape
            that does not fit Glass-Net.
    """
    check_tf_checkpoint(path)
    path = Path(path)
    tf = _import_tensorflow()
    try:
        reader = tf.train.load_checkpoint(str(path))
    except (ValueError, tf.errors.OpError) as e:
        reason = (getattr(e, "message", None) or str(e)).strip().splitlines()[0][:160]
        raise BgganError(f"{path}: not a readable TensorFlow checkpoint ({reason})") from None
    shapes = reader.get_variable_to_shape_map()
    layers, scheme = _layer_keys(list(shapes), prefix, path)
    missing_kernel = [layer for layer in layers if "kernel" not in layer]
    if missing_kernel:
        raise BgganError(f"{path}: variable {_short(missing_kernel[0]['bias'])} has no kernel beside it")

    config = _infer_config([shapes[layer["kernel"]] for layer in layers], path)
    model = GlassNet(**config, norm=norm)
    n_variables = 0
    with torch.no_grad():
        for layer, conv in zip(layers, model.released_layer_order(), strict=True):
            expected = list(conv.weight.permute(2, 3, 1, 0).shape)  # the TF layout
            if shapes[layer["kernel"]] != expected:
                raise BgganError(f"{path}: {_short(layer['kernel'])} has shape {shapes[layer['kernel']]}, "
                                 f"expected {expected} for a GlassNet with {config}")
            conv.weight.copy_(tf_to_torch(reader.get_tensor(layer["kernel"])))
            has_bias = conv.bias is not None
            if has_bias and "bias" not in layer:
                raise BgganError(f"{path}: {_short(layer['kernel'])} (a transposed conv) has no bias variable")
            if not has_bias and "bias" in layer:
                raise BgganError(f"{path}: unexpected variable {_short(layer['bias'])} (this conv has no bias)")
            if has_bias:
                if shapes[layer["bias"]] != [conv.bias.shape[0]]:
                    raise BgganError(f"{path}: {_short(layer['bias'])} has shape {shapes[layer['bias']]}, "
                                     f"expected [{conv.bias.shape[0]}]")
                conv.bias.copy_(torch.from_numpy(np.asarray(reader.get_tensor(layer["bias"]), np.float32)))
            n_variables += len(layer)
    return ImportedGenerator(model.eval(), n_variables, scheme)
