"""The Sersic family's figures: the Cramer-Rao curves against SNR."""

from __future__ import annotations

import numpy as np

from kzoo import plots


def crb_curves(curves: dict, fixed: dict, path, names, seed_crb60=None):
    """Per parameter, against SNR: each network's rms error in SNR bins beside the rms Cramer-Rao bound of
    the same images (lines), and the bound of the fixed galaxy at SNR 30 and 60 (kzoo's dots; the seed's
    typed-in values as crosses). ``names``: the parameters in the order of the fixed galaxy's bounds and of
    ``seed_crb60`` (the curves hold them by name, in any order)."""
    plt = plots.pyplot()
    names = list(names)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.8), squeeze=False)
    for j, p in enumerate(names):
        ax = axes[0, j]
        for i, (exp, cv) in enumerate(curves.items()):
            e = np.asarray(cv["edges"], float)
            mid = 0.5 * (e[1:] + e[:-1])
            c = cv["params"][p]
            ax.plot(mid, c["rmse"], "o-", ms=3, label=f"{exp} rms error")
            if i == 0:
                ax.plot(mid, c["crb_rms"], "k--", label=f"rms CRB ({exp}'s images; recipes differ)"
                        if len(curves) > 1 else "rms CRB (same images)")
        snrs = sorted(int(s) for s in fixed["snr"])
        ax.plot(snrs, [fixed["snr"][str(s)]["crb"][j] for s in snrs], "kD", ms=5, label="CRB, fixed galaxy")
        if seed_crb60 is not None:
            ax.plot(snrs, [seed_crb60[j] * 60 / s for s in snrs], "rx", ms=7, label="seed's typed CRB")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SNR")
        ax.set_title(p)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("error (physical units)")
    axes[0, -1].legend(fontsize=7)
    return plots.save_figure(fig, path)
