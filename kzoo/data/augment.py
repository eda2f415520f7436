"""Batch augmentations for tf.data: flips, quarter turns and rotations by any angle.

Each takes a batch of images ``(B, H, W, C)`` and a stateless seed (shape [2], int), so a pipeline
with a fixed seed augments the same way every run. An image target (a mask) gets the same transform.
"""

from __future__ import annotations

import math

import tensorflow as tf

from kzoo.data.augment_numpy import AUGMENTATIONS, parse_augment  # noqa: F401 (kzoo.data.augment's names too)


def _apply(fn, x, y):
    return fn(x), (fn(y) if y is not None else None)


def augment_batch(x, y, seed, flip=False, rot90=False, rotate=0.0):
    """Augment images ``x`` (and the image target ``y``, if not None) with per-image random draws."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    b = tf.shape(x)[0]
    if flip:
        for k, axis in ((0, 2), (1, 1)):
            do = tf.random.stateless_uniform([b, 1, 1, 1], seeds[k]) < 0.5
            x, y = _apply(lambda t: tf.where(do, tf.reverse(t, [axis]), t), x, y)
    if rot90:
        k = tf.random.stateless_uniform([b], seeds[2], 0, 4, dtype=tf.int32)
        turns = [lambda t, i=i: tf.image.rot90(t, i) for i in range(4)]

        def rot(t):
            out = t
            for i in range(1, 4):
                out = tf.where(tf.reshape(k == i, [-1, 1, 1, 1]), turns[i](t), out)
            return out

        x, y = _apply(rot, x, y)
    if rotate:
        angle = tf.random.stateless_uniform([b], seeds[3], -1.0, 1.0) * (float(rotate) * math.pi / 180.0)
        x, y = _apply(lambda t: rotate_images(t, angle), x, y)
    return x, y


def rotate_images(images, angles, interpolation="BILINEAR"):
    """Rotate each image of ``(B, H, W, C)`` by its angle (radians, counter-clockwise) about its centre.

    Pixels that come from outside the image are 0.
    """
    shape = tf.shape(images)
    h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    c, s = tf.cos(angles), tf.sin(angles)
    zeros = tf.zeros_like(c)
    # Output pixel (x, y) samples the input at R(angle) applied about the centre.
    transforms = tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation=interpolation, fill_mode="CONSTANT")
