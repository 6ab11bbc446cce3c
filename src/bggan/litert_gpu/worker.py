"""One .tflite file on LiteRT's GPU accelerator only (no CPU fallback): the process :mod:`bggan.litert_gpu` talks to.

Runs in the runtime environment (ai-edge-litert and numpy; it never imports bggan):

    python worker.py MODEL.tflite --precision fp32|fp16

``fp32`` compiles with ``GpuOptions(enforce_f32=True)``; ``fp16`` is the GPU's default precision. The
model is compiled with ``HardwareAccelerator.GPU`` alone, so an op the GPU cannot run fails the compile
("Some ops are not accelerated") instead of falling back to the CPU.

Protocol, one JSON line on stdout per message (native logs go to stderr):
- first the compile: ``{"ok": true, "fully_accelerated": bool, "compile_s": s, "litert": version,
  "inputs": {name: {"shape": [...], "dtype": "float32"}, ...}, "outputs": {...}}`` or
  ``{"ok": false, "error": "..."}`` (then the process ends);
- then for every request line ``{"in": "a.npz", "out": "b.npz"}`` on stdin (arrays named by input;
  a file with one array feeds a one-input model whatever its name): the outputs written to ``out``,
  named by output, and ``{"ok": true, "seconds": s}`` (or ``{"ok": false, "error": ...}``).
The process ends at the end of stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _say(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _last_line(error: BaseException) -> str:
    lines = [line.strip(" └│") for line in str(error).strip().splitlines() if line.strip(" └│")]
    return (lines[-1] if lines else type(error).__name__)[:400]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32")
    args = parser.parse_args()

    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything native that prints to stdout lands in the log, not in the protocol

    import numpy as np
    from ai_edge_litert import __version__ as litert_version
    from ai_edge_litert.compiled_model import CompiledModel, GpuOptions, HardwareAccelerator, Options

    options = Options(hardware_accelerators=HardwareAccelerator.GPU,
                      gpu_options=GpuOptions(enforce_f32=args.precision == "fp32"))
    start = time.perf_counter()
    try:
        model = CompiledModel.from_file(args.model, options=options)
    except Exception as e:  # noqa: BLE001 (the runtime's own error: unsupported ops, no adapter, a bad file)
        _say(protocol, {"ok": False, "error": _last_line(e)})
        return 0
    compile_s = time.perf_counter() - start
    signature = next(iter(model.get_signature_list()))
    names = model.get_signature_list()[signature]
    details = {"inputs": model.get_input_tensor_details(signature), "outputs": model.get_output_tensor_details(signature)}
    described = {kind: {name: {"shape": [int(n) for n in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
                        for name, d in found.items()} for kind, found in details.items()}
    _say(protocol, {"ok": True, "fully_accelerated": bool(model.is_fully_accelerated()), "compile_s": compile_s,
                    "litert": litert_version, **described})

    input_names, output_names = list(names["inputs"]), list(names["outputs"])
    in_buffers, out_buffers = model.create_input_buffers(0), model.create_output_buffers(0)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            with np.load(request["in"]) as given:
                arrays = {name: given[name] for name in given.files}
            if len(arrays) == 1 and len(input_names) == 1:
                arrays = {input_names[0]: next(iter(arrays.values()))}
            for name, buffer in zip(input_names, in_buffers, strict=True):
                spec = described["inputs"][name]
                buffer.write(np.ascontiguousarray(arrays[name], dtype=spec["dtype"]).reshape(spec["shape"]))
            start = time.perf_counter()
            model.run_by_index(0, in_buffers, out_buffers)
            outputs = {}
            for name, buffer in zip(output_names, out_buffers, strict=True):
                spec = described["outputs"][name]
                size = int(np.prod(spec["shape"]))
                outputs[name] = buffer.read(size, np.dtype(spec["dtype"])).reshape(spec["shape"])
            seconds = time.perf_counter() - start
            np.savez(request["out"], **outputs)
            _say(protocol, {"ok": True, "seconds": seconds})
        except Exception as e:  # noqa: BLE001 (reported to the caller, who decides)
            _say(protocol, {"ok": False, "error": _last_line(e)})
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the runtime's native teardown (its log lines are noise, and it can be slow)
