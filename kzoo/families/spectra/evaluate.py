"""The spectra family's evaluator: a conditional spectrum generator judged by cross-correlation against the
templates, a Frechet distance in a small CNN's features, and its plots."""

from __future__ import annotations

import numpy as np

from kzoo import plots


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two sets of feature vectors (rows): the Frechet
    distance of Gaussians fitted to them (the FID's formula)."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    eye = 1e-6 * np.eye(a.shape[1])  # features that never fire (a dead ReLU) would make the covariances singular
    sa, sb = np.cov(a, rowvar=False) + eye, np.cov(b, rowvar=False) + eye
    root = linalg.sqrtm(sa @ sb)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa + sb - 2.0 * root))


# The feature network's random seed: one for every run, whatever its training seed, so that generators trained on one
# dataset (one experiment's training seeds, Gaussian against uniform noise) are judged in one feature space; 1, the
# training seed every recorded run used (their features were seeded with it)
FEATURE_SEED = 1


def spectrum_features(x_train, classes_train, seed: int = FEATURE_SEED, epochs: int = 4):
    """A small 1-D CNN (two strided convolutions, global pooling, dense 32) trained to tell the template class
    of real training spectra; returns a function mapping spectra (n, L[, 1]) to its 32 penultimate features."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((x_train.shape[1], 1))
    h = keras.layers.Conv1D(16, 7, strides=2, activation="relu")(inp)
    h = keras.layers.Conv1D(32, 7, strides=2, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    feat = keras.layers.Dense(32, activation="relu", name="features")(h)
    clf = keras.Model(inp, keras.layers.Dense(int(classes_train.max()) + 1, activation="softmax")(feat))
    clf.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    clf.fit(x_train.reshape(len(x_train), -1, 1), classes_train, batch_size=128, epochs=epochs, verbose=0)
    features = keras.Model(inp, feat)
    return lambda x: np.asarray(features.predict(np.asarray(x).reshape(len(x), -1, 1), batch_size=512, verbose=0))


def _spectra(model, run, data_dir, split, manifest, out_dir):
    """A conditional spectrum generator (``kzoo.families.spectra.models.SpectraWGAN``) on a split, one spectrum generated
    at every real one's parameters. ``cross_correlation`` (``kzoo.families.spectra.sky.cross_correlate`` against the four
    CWW templates): ``r_median_real`` / ``r_median_generated`` = the median best correlation, ``r_ks`` = the two-
    sample Kolmogorov-Smirnov distance between the two distributions of r (0: the same), ``template_agreement`` =
    the fraction of generated spectra whose best template is that of the real one; in the observed frame,
    ``z_error_generated`` = median |z_xc - z| / (1 + z) of the redshift measured on the generated spectrum against
    the one it was conditioned on, ``z_error_real`` the same measurement on the real spectra (its floor), and
    ``z_outliers_generated`` the fraction above 0.01. ``frechet``: the Frechet distance between real and generated
    spectra in the 32 features of a small CNN trained on the real training spectra to tell their template class
    (:func:`spectrum_features`), ``generated`` on one half of the split against the real other half, and
    ``real_vs_real`` between the real halves (the floor); the network's seed is fixed (``FEATURE_SEED``), not the
    run's, so runs on one dataset share its features. ``noise`` (a generator with noise, group B's question):
    ``draw_std`` = the median over wavelengths and 16 parameter sets of the standard deviation of 8 spectra drawn
    for the same parameters (0: the generator ignores its noise); ``latent_walk.png`` shows spectra along a straight
    line between two noise vectors."""
    from scipy.stats import ks_2samp

    from kzoo.data.reader import batches, load_arrays
    from kzoo.experiments import pipeline_args
    from kzoo.families.spectra import sky

    exp = run["experiment"]
    feature = exp["inputs"]["spectrum"]
    names = list(exp["inputs"]["conditions"])
    real, cond = [], []
    for x, _ in batches(data_dir, split, **pipeline_args(exp), batch_size=512, shuffle=False, manifest=manifest,
                        verify=False):
        real.append(np.asarray(x["spectrum"]).reshape(len(x["spectrum"]), -1))
        cond.append(np.asarray(x["conditions"]))
    real, cond = np.concatenate(real), np.concatenate(cond)
    gen = model.generate(cond, seed=int(run["seed"])).reshape(len(real), -1)
    params = manifest["params"]
    observed = feature == "spectrum_obs"
    grid = sky.obs_grid(params) if observed else sky.rest_grid(params)
    z_lo, z_hi = params["z_range"]
    z_grid = np.arange(max(0.0, z_lo - 0.05), z_hi + 0.0505, 0.001) if observed else np.arange(-0.02, 0.0205, 0.001)
    xr, xg = sky.cross_correlate(real, grid, z_grid), sky.cross_correlate(gen, grid, z_grid)
    xc = {"n": int(len(real)), "r_median_real": float(np.median(xr["r"])), "r_median_generated": float(np.median(xg["r"])),
          "r_ks": float(ks_2samp(xr["r"], xg["r"]).statistic),
          "template_agreement": float(np.mean(xr["template"] == xg["template"]))}
    if observed and "z" in names:
        z = cond[:, names.index("z")]
        err_g, err_r = np.abs(xg["z"] - z) / (1 + z), np.abs(xr["z"] - z) / (1 + z)
        xc.update({"z_error_generated": float(np.median(err_g)), "z_error_real": float(np.median(err_r)),
                   "z_outliers_generated": float(np.mean(err_g > 0.01)), "z_outliers_real": float(np.mean(err_r > 0.01))})
    x_train, t_train = load_arrays(data_dir, "train", inputs=feature, targets=["template_t"], manifest=manifest,
                                   verify=False)
    embed = spectrum_features(x_train.reshape(len(x_train), -1), np.round(t_train[:, 0]).astype(int),
                              seed=FEATURE_SEED)
    half = len(real) // 2
    fr, fg = embed(real), embed(gen)
    frechet = {"n": int(half), "generated": frechet_distance(fr[:half], fg[half:2 * half]),
               "real_vs_real": frechet_distance(fr[:half], fr[half:2 * half])}
    k = min(4, len(real))
    z = cond[:k, names.index("z")] if observed and "z" in names else np.zeros(k)
    marks = {"4000 A": sky.BREAK * (1 + z), **{n: w * (1 + z) for n, w in sky.LINES.items()
                                                if n in ("Halpha", "Hbeta", "OIII_5007")}}
    spectra_examples(grid, real[:k], gen[:k], [dict(zip(names, c)) for c in cond[:k]], marks,
                           out_dir / "generated.png", title=f"{exp['name']}: {split} split, real and generated")
    out = {"cross_correlation": xc, "frechet": frechet}
    if model.latent_dim:  # group B: what the noise does at fixed parameters
        m = min(16, len(cond))
        draws = model.generate(np.repeat(cond[:m], 8, axis=0), seed=int(run["seed"]) + 1).reshape(m, 8, -1)
        out["noise"] = {"n": m, "draw_std": float(np.median(draws.std(axis=1)))}
        ends = model.draw_noise(np.random.default_rng(int(run["seed"])), 2)
        latent_walk(grid, model.interpolate(cond[0], *ends, steps=6), dict(zip(names, cond[0])),
                          out_dir / "latent_walk.png", title=f"{exp['name']}: a walk between two noise vectors")
    return out


def latent_walk(grid, spectra, conditions: dict, path, title: str = ""):
    """Spectra (steps, L[, 1]) generated for one set of ``conditions`` along a walk in the latent space, stacked
    with an offset, the first at the bottom."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(spectra)))
    for i, (s, c) in enumerate(zip(spectra, colors)):
        ax.plot(grid, np.asarray(s).ravel() + 0.5 * i, color=c, lw=0.7, label=f"t = {i / max(1, len(spectra) - 1):.2f}")
    ax.set_xlabel("wavelength (A)")
    ax.set_ylabel("spectrum + 0.5 per step")
    ax.set_title(", ".join(f"{k} {v:.3g}" for k, v in conditions.items()), fontsize=8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def spectra_examples(grid, real, generated, conditions, marks, path, title: str = ""):
    """Real (grey) and generated (colour) spectra for the same physical parameters, one panel each, with the
    wavelengths in ``marks`` ({name: wavelength per example, (n,) or scalar}) drawn as dotted lines."""
    plt = plots.pyplot()
    n = len(real)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.9 * n), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(grid, np.asarray(real[i]).ravel(), color="0.55", lw=0.7, label="real")
        ax.plot(grid, np.asarray(generated[i]).ravel(), color="C3", lw=0.7, label="generated")
        for name, where in marks.items():
            w = float(np.asarray(where).ravel()[i] if np.ndim(where) else where)
            if grid[0] <= w <= grid[-1]:
                ax.axvline(w, color="C0", ls=":", lw=0.8)
                ax.text(w, 1.02, name, fontsize=6, color="C0", ha="center", va="bottom")
        ax.set_title(", ".join(f"{k} {v:.3g}" for k, v in conditions[i].items()), fontsize=7)
        ax.set_ylim(-0.05, 1.15)
    axes[0, 0].legend(fontsize=6, loc="lower right")
    axes[-1, 0].set_xlabel("wavelength (A)")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return plots.save_figure(fig, path)


EVALUATORS = {"spectra": _spectra}
FIGURE_FILES = ("generated.png", "latent_walk.png")  # what a results page shows of what these draw
