"""Dropout masks for the fused training loop, from a counter-based integer hash.

Keras's Dropout draws its masks with TensorFlow's random ops, whose XLA kernels
on a CPU made the dropout variant's epochs many times slower (benchmarks/README.md).
Here a mask is a pure function of (seed, training step, layer, position): the
32-bit finalizer of MurmurHash3 over plain integers, which XLA compiles to a few
vectorized multiplies, shifts and xors per unit, fused into the layer's output.
The semantics are Keras's Dropout: each unit kept with probability 1 - rate and
scaled by 1 / (1 - rate) ("inverted" dropout), identity at inference. Counting
steps with the optimizer's `iterations` makes a resumed run draw the masks an
uninterrupted one would.
"""

from __future__ import annotations

import tensorflow as tf

UINT32_RANGE = 2**32
# Odd constants: MurmurHash3's finalizer and the golden ratio's (Weyl sequence).
MIX_MULTIPLIERS = (0x85EBCA6B, 0xC2B2AE35)
GOLDEN = 0x9E3779B9


def mix32(values: tf.Tensor) -> tf.Tensor:
    """MurmurHash3's fmix32 on uint32 values: a bijection whose every output bit
    depends on every input bit."""
    shift = tf.bitwise.right_shift
    values = tf.bitwise.bitwise_xor(values, shift(values, tf.constant(16, tf.uint32)))
    values = values * tf.constant(MIX_MULTIPLIERS[0], tf.uint32)
    values = tf.bitwise.bitwise_xor(values, shift(values, tf.constant(13, tf.uint32)))
    values = values * tf.constant(MIX_MULTIPLIERS[1], tf.uint32)
    return tf.bitwise.bitwise_xor(values, shift(values, tf.constant(16, tf.uint32)))


def stream_key(seed: int, step: tf.Tensor, stream: int) -> tf.Tensor:
    """One uint32 key per (seed, step, stream); for one seed and stream, distinct
    steps give distinct keys (each stage is a bijection of the step)."""
    xor = tf.bitwise.bitwise_xor
    seed_bits = tf.constant((seed ^ (seed >> 32)) & 0xFFFFFFFF, tf.uint32)
    layer_key = mix32(xor(mix32(seed_bits), tf.constant(stream, tf.uint32)))
    step_bits = tf.cast(tf.math.floormod(tf.cast(step, tf.int64), UINT32_RANGE), tf.uint32)
    return mix32(xor(layer_key, mix32(step_bits)))


def random_bits(shape: tf.Tensor, seed: int, step: tf.Tensor, stream: int = 0) -> tf.Tensor:
    """uint32 values of `shape` that look uniformly random, a function of their
    position and (seed, step, stream) only."""
    positions = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape), dtype=tf.int32), shape), tf.uint32)
    return mix32(tf.bitwise.bitwise_xor(positions * tf.constant(GOLDEN, tf.uint32), stream_key(seed, step, stream)))


def hashed_dropout(inputs: tf.Tensor, rate: float, seed: int, step: tf.Tensor, stream: int = 0) -> tf.Tensor:
    """Keras's Dropout(rate) in training, with the mask of (seed, step, stream)."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), not {rate}")
    if rate == 0:
        return inputs
    # Kept where the bits reach rate * 2**32: probability 1 - rate.
    threshold = tf.constant(min(round(rate * UINT32_RANGE), UINT32_RANGE - 1), tf.uint32)
    keep = random_bits(tf.shape(inputs), seed, step, stream) >= threshold
    return tf.where(keep, inputs * tf.cast(1 / (1 - rate), inputs.dtype), tf.zeros_like(inputs))
