"""The Sersic suite page's own parts: each run's errors binned by SNR against its images' own Cramer-Rao bounds, and
the seed's fixed galaxy."""

from __future__ import annotations

import json
from pathlib import Path

from kzoo.io import write_json
from kzoo.report import num
from kzoo.reproduce import Suite


SERSIC_FIXED = {"params": (1e5, 3.0, 0.3, -0.069, 0.15), "psf_fwhm": 0.5}  # the seed's fixed test galaxy


# The seed's typed-in Cramer-Rao sigmas of that galaxy at SNR 60 (twice these at SNR 30), and its Xception's std.
SERSIC_SEED_CRB60 = (0.056e5, 0.78, 0.028, 0.054, 0.054)


SERSIC_SEED_STD60 = (0.063e5, 0.765, 0.035, 0.048, 0.055)


SERSIC_CRB_IMAGES = 200  # test images whose own Cramer-Rao bound is computed (~0.5 s each) for the SNR bins


SERSIC_FIXED_IMAGES = None  # noise realisations of the fixed galaxy (None: the recipes' 1,000)


def _sees_noisy_image(e: dict) -> bool:
    """A Sersic experiment that estimates the parameters from the noisy image (perhaps beside conditions or
    the PSF image): its targets are the labels, or a "params" output among others (the autoencoder's latent;
    its run's predictions hold that output alone), not an image."""
    i, t = e["inputs"], e["targets"]
    estimates = isinstance(t, (list, tuple)) or isinstance(t, dict) and "params" in t
    return estimates and (i == "image" or isinstance(i, dict) and i.get("image") == "image")


def sersic_fixed_bounds(cache: Path) -> dict:
    """The Cramer-Rao bound of the seed's fixed galaxy at SNR 60 and 30, cached in ``cache`` (JSON)."""
    from kzoo.io import read_json
    from kzoo.families.sersic.reference import sersic_fisher, sersic_sigma_for_snr

    fixed = read_json(cache, default=None)
    if fixed is None or fixed.get("galaxy") != json.loads(json.dumps(SERSIC_FIXED)):
        fixed = {"galaxy": SERSIC_FIXED, "snr": {}}
        for snr in (60, 30):
            sigma = sersic_sigma_for_snr(SERSIC_FIXED["params"], SERSIC_FIXED["psf_fwhm"], snr)
            f = sersic_fisher(SERSIC_FIXED["params"], SERSIC_FIXED["psf_fwhm"], sigma)
            fixed["snr"][str(snr)] = {"sigma": sigma, "crb": [float(c) for c in f["crb"]]}
        write_json(cache, fixed)
    return json.loads(json.dumps(fixed))


def sersic_crb_record(exp, run_dir: Path, data: Path, out: Path) -> dict | None:
    """What a Sersic run adds to its reproduction record, so that the suite's Cramer-Rao section is made from
    records alone (``kzoo reproduce sersic --from-results``, on another day or machine): the run's bias and
    standard deviation per parameter on the seed's fixed galaxy at SNR 60 and 30 (recipes ``sersic_fixed_snr60``
    / ``_snr30``, their own seeds, many noise realisations of one galaxy), and over the first
    ``SERSIC_CRB_IMAGES`` test images the rms error against the rms of each image's own bound, in SNR bins.
    None for a run that does not estimate the parameters from the noisy image. The fixed-galaxy datasets go beside
    ``data`` (a suite's shared data folder) or into ``out``; the test images' bounds are cached in
    ``out/crb_test.npz``."""
    import numpy as np

    from kzoo.data.reader import load_arrays
    from kzoo.data.shards import write_shards
    from kzoo.evaluate import evaluate
    from kzoo.metrics import binned_errors
    from kzoo.families.sersic.sky import LABELS
    from kzoo.families.sersic.reference import sersic_crb_for

    e = exp.to_dict()
    if not _sees_noisy_image(e):
        return None
    names = list(LABELS[:5])
    fixed = {}
    for snr in ("60", "30"):
        recipe = f"sersic_fixed_snr{snr}"
        where = data.parent / recipe if data.name == exp.recipe else out / f"data-{recipe}"
        write_shards(recipe, where, n=SERSIC_FIXED_IMAGES)  # the recipe's own seed
        m = evaluate(run_dir, where, out=out / f"fixed_snr{snr}", classical=False)["metrics"]
        fixed[snr] = {"images": len(np.load(out / f"fixed_snr{snr}" / "predictions_test.npz")["y_true"]),
                      "std": [float(m[p]["std"]) for p in names], "bias": [float(m[p]["bias"]) for p in names]}
    cache = out / "crb_test.npz"
    pred = np.load(run_dir / "predictions_test.npz")
    k = min(SERSIC_CRB_IMAGES, len(pred["y_true"]))
    if cache.exists():
        c = np.load(cache)
        if len(c["labels"]) != k or not np.allclose(c["labels"][:, :5], pred["y_true"][:k], rtol=1e-5):
            cache.unlink()  # made for another test split
    if not cache.exists():
        _, labels = load_arrays(data, "test", inputs="image", targets=list(LABELS))
        np.savez(cache, crb=sersic_crb_for(labels[:k], names=LABELS, progress=True), labels=labels[:k])
    c = np.load(cache)
    snr_k, edges = c["labels"][:, list(LABELS).index("snr")], e["evaluation_args"]["bins"]
    bins = {"edges": list(edges), "images": k, "params": {}}
    for j, p in enumerate(names):
        err = binned_errors(pred["y_true"][:k, j], pred["y_pred"][:k, j], snr_k, "snr", edges)
        bound = binned_errors(np.zeros(k), c["crb"][:, j], snr_k, "snr", edges)["rmse"]  # rms of the bounds
        bins["params"][p] = {"n": err["n"], "rmse": err["rmse"], "crb_rms": bound}
    return {"fixed_galaxy": fixed, "snr_bins": bins}


def sersic_rmse_table(records, names) -> list[str]:
    """Test RMSE per parameter of every record that estimates the parameters, in physical units, with its
    classical fit and the seed's number (where they exist) in the rows below it."""
    rows = []
    for r in records:
        exp, cl = r["experiment"], (r.get("classical_reference") or {}).get("metrics", {})
        link = f"[{exp['name']}]({exp['name']}.md)"
        for i, (who, m) in enumerate(((f"kzoo `{exp['model']}`", r["metrics"]),
                                      (exp.get("reference_method") or "classical", cl),
                                      ("seed", {p: {"rmse": v} for p, v in r["reference"].get("rmse", {}).items()}))):
            rmse = [m.get(p, {}).get("rmse") for p in names]
            if all(isinstance(v, float) for v in rmse):
                rows.append(f"| {link} | {who} | " + " | ".join(num(v) for v in rmse) + " |")
            elif i == 0:
                break  # no estimate of its own: neither are its references shown
    return ["## Test RMSE per parameter, every estimator", "", "| experiment | estimator | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names), *rows, ""] if rows else []


def sersic_crb_section(out: Path, results_dir: Path, records=()) -> str:
    """Every noisy-image Sersic model held against the Cramer-Rao bound (``kzoo.families.sersic.reference.sersic_fisher``), from
    what each record holds (``sersic_crb_record``): on the seed's fixed galaxy at SNR 60 and 30 (bias, std and
    std / CRB per parameter; goal std / CRB <= 1.2 at SNR 60, bias below std) and over the test split in SNR bins
    (rms error / rms bound). The fixed galaxy's bound is cached in ``out/sersic_crb.json``."""
    from kzoo.families.sersic.plots import crb_curves
    from kzoo.families.sersic.sky import LABELS

    names = list(LABELS[:5])
    fixed = sersic_fixed_bounds(out / "sersic_crb.json")
    lines = sersic_rmse_table(records, names) + [
             "## The physical limit: Cramer-Rao bound (`kzoo.families.sersic.reference.sersic_fisher`)", "",
             f"The seed's fixed galaxy (flux, n, re, g1, g2) = {tuple(SERSIC_FIXED['params'])}, PSF FWHM "
             f"{SERSIC_FIXED['psf_fwhm']} arcsec; Poisson + Gaussian pixel variance; derivatives of GalSim's image "
             "by central differences. Seed: its typed-in bound (not computed) and its Xception's std at SNR 60.", "",
             "| SNR | | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for snr in ("60", "30"):
        crb = fixed["snr"][snr]["crb"]
        seed = [c * (60 / int(snr)) for c in SERSIC_SEED_CRB60]
        lines += [f"| {snr} | kzoo CRB sigma | " + " | ".join(f"{c:.4g}" for c in crb) + " |",
                  f"| {snr} | seed's typed CRB | " + " | ".join(f"{c:.4g}" for c in seed) + " |",
                  f"| {snr} | kzoo / seed | " + " | ".join(f"{a / b:.2f}" for a, b in zip(crb, seed)) + " |"]
    lines.append("| 60 | seed's Xception std | " + " | ".join(f"{c:.4g}" for c in SERSIC_SEED_STD60) + " |")
    noisy = [r for r in records if _sees_noisy_image(r["experiment"])]
    if not noisy:
        return "\n".join(lines + [""])
    missing = [r["experiment"]["name"] for r in noisy if not r.get("crb")]
    noisy = [r for r in noisy if r.get("crb")]
    if missing:
        lines += ["", "Not held against the bound (recorded before a run's record carried its fixed-galaxy and "
                      "per-image bounds; `kzoo reproduce EXPERIMENT` again adds them): " + ", ".join(missing) + "."]
    if not noisy:
        return "\n".join(lines + [""])
    lines += ["", "### Networks on the fixed galaxy (many noise realisations)", "",
              "| experiment | SNR | | " + " | ".join(names) + " | goal |", "|---|---|---|" + "---|" * len(names) + "---|"]
    curves = {}
    for r in noisy:
        exp = r["experiment"]["name"]
        for snr in ("60", "30"):
            m, crb = r["crb"]["fixed_galaxy"][snr], fixed["snr"][snr]["crb"]
            ratio = [sd / c for sd, c in zip(m["std"], crb)]
            goal = ""
            if snr == "60":
                met = all(x <= 1.2 for x in ratio) and all(abs(b) < sd for b, sd in zip(m["bias"], m["std"]))
                goal = f"std/CRB <= 1.2 and abs(bias) < std: {'met' if met else '**missed**'}"
            lines += [f"| {exp} | {snr} | std | " + " | ".join(f"{v:.4g}" for v in m["std"]) + " | |",
                      f"| {exp} | {snr} | bias | " + " | ".join(f"{v:.3g}" for v in m["bias"]) + " | |",
                      f"| {exp} | {snr} | std / CRB | " + " | ".join(f"{x:.2f}" for x in ratio) + f" | {goal} |"]
        curves[exp] = r["crb"]["snr_bins"]
    k = max(cv.get("images", SERSIC_CRB_IMAGES) for cv in curves.values())
    lines += ["", f"### Test split in SNR bins (first {k} test images): rms error / rms CRB", ""]
    for exp, cv in curves.items():
        e = cv["edges"]
        lines += [f"{exp}:", "", "| SNR | images | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for b in range(len(e) - 1):
            cells = [f"{cv['params'][p]['rmse'][b] / cv['params'][p]['crb_rms'][b]:.2f}"
                     if cv["params"][p]["n"][b] else "" for p in names]
            lines.append(f"| {e[b]:g}-{e[b + 1]:g} | {cv['params'][names[0]]['n'][b]} | " + " | ".join(cells) + " |")
        lines.append("")
    from kzoo.runs import provenance_fields

    write_json(results_dir / "sersic-crb.json", {"fixed_galaxy": fixed, "snr_bins": curves, **provenance_fields()})
    crb_curves(curves, fixed, results_dir / "sersic-crb.png", names, seed_crb60=SERSIC_SEED_CRB60)
    lines += ["![Cramer-Rao bound and network errors by SNR](sersic-crb.png)", ""]
    return "\n".join(lines)


SUITE = Suite(section=sersic_crb_section, record_extras={"crb": sersic_crb_record})
