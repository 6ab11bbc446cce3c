"""A rewrite of converted TFLite files that keeps their numbers and lets LiteRT's GPU delegate take every op.

TensorFlow's converter fuses ``TRANSPOSE_CONV + bias + RELU`` into one TRANSPOSE_CONV with a fused
activation, which is op version 4; LiteRT's GPU delegate (ai-edge-litert 2.3) takes versions up to 3 and
refuses the model ("TRANSPOSE_CONV: Max version supported: 3. Requested version 4."). Glass-Net's
up-sampling convolutions are followed by ReLU, so every trained model (non-zero biases) hit this; a model
with zero biases does not, because then there is no bias for the fusion to start from.
:func:`unfuse_transpose_conv_activations` splits the activation back out as its own op.
"""

from __future__ import annotations

#: TFLite's ActivationFunctionType -> the BuiltinOperator that computes it alone.
_ACTIVATION_OPS = {"RELU": "RELU", "RELU_N1_TO_1": "RELU_N1_TO_1", "RELU6": "RELU6", "TANH": "TANH"}
#: The highest TRANSPOSE_CONV version LiteRT's GPU delegate accepts.
GPU_TRANSPOSE_CONV_VERSION = 3


def unfuse_transpose_conv_activations(flatbuffer: bytes) -> tuple[bytes, int]:
    """Every TRANSPOSE_CONV with a fused activation becomes TRANSPOSE_CONV (no activation) -> the activation op.

    The activation reads a new tensor with the convolution's shape, type and quantization (for a quantized
    model the output's parameters: a ReLU's output range already clamps there, so the numbers are the
    same), and writes the convolution's old output tensor, so signatures and consumers are unchanged. The
    TRANSPOSE_CONV op code drops to version 3 when nothing else needs more (int16 activations).

    Returns:
        The new flatbuffer and how many ops were split (0: ``flatbuffer`` returned unchanged).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    activations = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}

    def builtin(code) -> int:
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    def code_index(name: str, version: int) -> int:
        for i, code in enumerate(model.operatorCodes):
            if ops.get(builtin(code)) == name:
                code.version = max(code.version, version)
                return i
        code = schema.OperatorCodeT()
        code.builtinCode = getattr(schema.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = version
        model.operatorCodes.append(code)
        return len(model.operatorCodes) - 1

    transpose = {i for i, code in enumerate(model.operatorCodes) if ops.get(builtin(code)) == "TRANSPOSE_CONV"}
    split, int16 = 0, False
    for graph in model.subgraphs:
        rewritten = []
        for op in graph.operators:
            rewritten.append(op)
            options = op.builtinOptions
            if op.opcodeIndex not in transpose or not options or not options.fusedActivationFunction:
                continue
            activation = activations[options.fusedActivationFunction]
            out = graph.tensors[op.outputs[0]]
            int16 |= out.type == schema.TensorType.INT16
            inner = schema.TensorT()
            inner.name = (out.name or b"") + b"/before_activation"
            inner.shape, inner.shapeSignature, inner.type = out.shape, out.shapeSignature, out.type
            inner.quantization, inner.buffer = out.quantization, 0  # buffer 0: the empty one, a computed tensor
            graph.tensors.append(inner)
            follow = schema.OperatorT()
            quantized = out.type in (schema.TensorType.INT8, schema.TensorType.UINT8)
            follow.opcodeIndex = code_index(_ACTIVATION_OPS[activation], 2 if quantized else 1)
            follow.inputs, follow.outputs = [len(graph.tensors) - 1], list(op.outputs)
            op.outputs = [len(graph.tensors) - 1]
            options.fusedActivationFunction = schema.ActivationFunctionType.NONE
            rewritten.append(follow)
            split += 1
        graph.operators = rewritten
    if not split:
        return flatbuffer, 0
    if not int16:
        for i in transpose:
            model.operatorCodes[i].version = min(model.operatorCodes[i].version, GPU_TRANSPOSE_CONV_VERSION)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), split
