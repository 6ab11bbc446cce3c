"""An independent Glass-Net in TensorFlow, and writers of released-layout checkpoints.

Written from the spec (``shared/spec/bggan.md``), not from the PyTorch port: NHWC tensors,
``tf.nn`` ops with TensorFlow's own "SAME" padding, and the released normalization spelled out
with reductions. If the port's padding, normalization, concat order or weight layout were
wrong, the two would disagree.
"""

from __future__ import annotations

import os

import numpy as np


def released_layers(c1: int = 16, c2: int = 24, n_res: int = 9) -> list[tuple[tuple[int, ...], bool]]:
    """Kernel shapes of the released checkpoint (the spec's table), TF layout, in creation order,
    each with True for transposed convs (``(kh, kw, out, in)``, with a bias)."""
    layers = []
    for stage, (c, c_in) in enumerate([(c1, 3), (c2, 6)]):
        layers += [((3, 3, c_in, c), False), ((3, 3, c, 2 * c), False), ((3, 3, 2 * c, 4 * c), False),
                   ((3, 3, 4 * c, 8 * c), False)]
        if stage == 1:
            layers.append(((3, 3, 8 * c, 8 * c), False))
        layers += [((3, 3, 8 * c, 8 * c), False)] * (2 * n_res)
        if stage == 0:
            layers += [((4, 4, 4 * c, 16 * c), True), ((4, 4, 2 * c, 4 * c), True), ((4, 4, c, 2 * c), True)]
        else:
            layers += [((4, 4, 4 * c, 16 * c), True), ((4, 4, 2 * c, 8 * c), True), ((4, 4, c, 4 * c), True)]
        layers.append(((3, 3, c, 3), False))
    return layers


def random_weights(layers, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """He-scaled random kernels (so outputs have a realistic spread) and small random biases."""
    rng = np.random.default_rng(seed)
    weights = []
    for shape, transposed in layers:
        kh, kw, a, b = shape
        fan_in = kh * kw * b // 4 if transposed else kh * kw * a
        kernel = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        bias = rng.normal(0, 0.05, a).astype(np.float32) if transposed else None
        weights.append((kernel, bias))
    # A gentler last conv per stage keeps tanh out of saturation, so differences stay visible.
    for i, (kernel, bias) in enumerate(weights):
        if layers[i][0][-1] == 3 and not layers[i][1]:
            weights[i] = (kernel * 0.3, bias)
    return weights


def write_checkpoint(tf, folder: str, weights, scheme: str = "keras2", prefix: str = "generator") -> str:
    """Save ``weights`` with TensorFlow's own object-based checkpoint writer, under released names.

    ``keras2``: ``PREFIX/layer_with_weights-K/{kernel,bias}``; ``keras3``: ``PREFIX/_operations/N/...``
    with gaps for layers without weights and Conv2D kernels named ``_kernel``, as Keras 3 writes them.
    """
    root = tf.Module()
    if scheme == "keras2":
        for k, (kernel, bias) in enumerate(weights):
            layer = tf.Module()
            layer.kernel = tf.Variable(kernel)
            if bias is not None:
                layer.bias = tf.Variable(bias)
            setattr(root, f"layer_with_weights-{k}", layer)
    elif scheme == "keras3":
        operations = [tf.Module()]  # the input layer
        for kernel, bias in weights:
            layer = tf.Module()
            if bias is None:
                layer._kernel = tf.Variable(kernel)
            else:
                layer.kernel, layer.bias = tf.Variable(kernel), tf.Variable(bias)
            operations += [layer, tf.Module()]  # each conv is followed by an activation layer
        root._operations = operations
    else:
        raise ValueError(scheme)
    return tf.train.Checkpoint(**{prefix: root}).save(os.path.join(folder, "ckpt"))


def glassnet_tf(tf, x: np.ndarray, weights, n_res: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass: ``x`` NHWC in [-1, 1] -> ``(final, rough)`` NHWC, from creation-order weights."""
    final, rough = glassnet_tf_ops(tf, tf.constant(x), weights, n_res)
    return final.numpy(), rough.numpy()


def glassnet_tf_ops(tf, x, weights, n_res: int, norm_kind: str = "official"):
    """:func:`glassnet_tf` on tensors, TensorFlow ops only (so ``tf.function`` can trace it): ``x`` NHWC
    float32 tensor -> ``(final, rough)`` tensors. ``weights`` may be arrays or tensors. ``norm_kind``:
    ``"official"`` (the released formula) or ``"instance"`` (textbook, for generators trained with it)."""
    layers = iter(weights)

    def conv(t, stride=1, relu=True):
        kernel, _ = next(layers)
        t = tf.nn.conv2d(t, kernel, stride, "SAME")
        return tf.nn.relu(t) if relu else t

    def tconv(t):
        kernel, bias = next(layers)
        b, h, w, _ = t.shape
        out = tf.nn.conv2d_transpose(t, kernel, [b, 2 * h, 2 * w, kernel.shape[2]], 2, "SAME")
        return tf.nn.relu(out + bias)

    def norm(t):  # released: divide by sqrt(sum of squared deviations + eps); instance: sqrt(variance + eps)
        mean = tf.reduce_mean(t, axis=[1, 2], keepdims=True)
        reduce = tf.reduce_sum if norm_kind == "official" else tf.reduce_mean
        return (t - mean) / tf.sqrt(reduce(tf.square(t - mean), axis=[1, 2], keepdims=True) + 1e-5)

    def res_blocks(t):
        for _ in range(n_res):
            y = tf.nn.relu(norm(conv(t, relu=False)))
            y = norm(conv(y, relu=False))
            t = tf.nn.relu(t + y)
        return t

    e4 = conv(conv(conv(conv(x), 2), 2), 2)
    y = tconv(tconv(tconv(tf.concat([res_blocks(e4), e4], 3))))
    rough = tf.tanh(conv(y, relu=False))

    f1 = conv(tf.concat([rough, x - rough], 3))
    f2 = conv(f1, 2)
    f3 = conv(f2, 2)
    f4 = conv(f3, 2)
    s = res_blocks(conv(f4))
    y = tconv(tf.concat([f4, s], 3))
    y = tconv(tf.concat([f3, y], 3))
    y = tconv(tf.concat([f2, y], 3))
    final = tf.tanh(conv(y, relu=False))
    assert next(layers, None) is None, "unused weights"
    return final, rough
