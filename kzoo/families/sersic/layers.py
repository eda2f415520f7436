"""The sersic family's own layers, keras-serializable (package "kzoo", so saved models load with safe_mode)."""

from __future__ import annotations


import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class NoiseWeightedChannels(keras.layers.Layer):
    """Seed 003's autoencoder inputs, computed from raw arrays so the saved model takes them as they are.

    Inputs ``[image, psf, conditions]``: the noisy image (B, H, W, 1) in counts, the PSF image (B, H, W, 1)
    and ``conditions`` (B, 2) = [sigma, psf_fwhm] (Gaussian noise sigma in counts, PSF FWHM in arcsec).
    Outputs ``[channels, stats]``: channels (B, H, W, 7) = [x, x / s, x^2 / (1.41 s^2), x / v, x / (v^2 s),
    psf, psf^2] with s = sigma and v the variance of the image's own pixels, and stats (B, 4) =
    [sigma, psf_fwhm, std(x), mean(x)] (population std over all pixels), as the seed's pipeline made them.
    Denominators are floored at ``epsilon`` so blank test inputs give zeros, not NaNs.
    """

    def __init__(self, square_factor: float = 1.41, epsilon: float = 1e-30, **kwargs):
        super().__init__(**kwargs)
        self.square_factor, self.epsilon = float(square_factor), float(epsilon)

    def call(self, inputs):
        image, psf, conditions = (ops.cast(t, "float32") for t in inputs)
        sigma = conditions[:, 0:1]
        s = ops.reshape(sigma, (-1, 1, 1, 1))
        axes = tuple(range(1, len(image.shape)))
        mean = ops.mean(image, axis=axes, keepdims=True)
        std = ops.std(image, axis=axes, keepdims=True)
        var = ops.square(std)

        def over(den):
            return ops.maximum(den, self.epsilon)

        channels = ops.concatenate([
            image, image / over(s), ops.square(image) / over(self.square_factor * ops.square(s)),
            image / over(var), image / over(ops.square(var) * s), psf, ops.square(psf)], axis=-1)
        stats = ops.concatenate([sigma, conditions[:, 1:2], ops.reshape(std, (-1, 1)), ops.reshape(mean, (-1, 1))],
                                axis=-1)
        return channels, stats

    def compute_output_shape(self, input_shape):
        image_shape = tuple(input_shape[0])
        return image_shape[:-1] + (7,), (image_shape[0], 4)

    def get_config(self):
        return {**super().get_config(), "square_factor": self.square_factor, "epsilon": self.epsilon}
