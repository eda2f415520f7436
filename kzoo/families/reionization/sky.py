"""21-cm brightness-temperature maps of the epoch of reionization from 21cmFAST (seed 004).

The seed classified 200 x 200 slices of 21cmFAST coeval boxes (200^3 cells, 300 Mpc) by their redshift (17
values, 5.0 to 13.0 by 0.5) and by the escape fraction of ionising photons (12 values, 0.07 to 0.13). This sky
runs 21cmFAST 4 (py21cmfast; Murray et al. 2020) for real:

* One **realisation** is one set of initial conditions (its random seed drawn from the shard's generator):
  for every redshift of the grid, the perturbed density field (2LPT), and for every escape fraction, the
  ionisation field (excursion set) and the brightness temperature delta T_b (mK; the spin temperature
  saturated, T_S >> T_CMB, 21cmFAST's "simple" template; ionised regions grow to at most ``r_bubble_max_mpc``,
  its default 15 Mpc). The escape fraction is 21cmFAST's F_ESC10 (the
  escape fraction of 10^10 M_sun haloes, a power law in halo mass of index ALPHA_ESC = -0.5): F_ESC10 =
  log10(escape fraction).
* Each box gives ``slices_per_box`` maps: slices perpendicular to the third axis, evenly spaced. A realisation
  is one group (``group_size``): all its maps stay in one split, so the test split is other initial conditions
  than the training split (the seed sliced one realisation for everything).
* Stored: ``map`` = delta T_b / ``tb_scale_mk`` (the seed divided by 70), (npix, npix) float32. Labels:
  ``redshift``, ``escape_fraction``, their class indices ``z_class`` and ``fesc_class`` in the recipe's grid,
  the box's volume-averaged neutral fraction ``x_hi`` and mean brightness ``mean_tb_mk``, and ``realization``
  (its index within the chunk simulated at once).

Cost on one core of this project's 2-core Xeon (measured): a 64^3 box of 96 Mpc (the seed's 1.5 Mpc cells)
takes ~7 s for the initial conditions, ~1 s per redshift for the perturbed field and ~1.2 s per escape
fraction and redshift for ionisation and brightness, so a realisation of the full 17 x 12 grid takes ~5
minutes (seen: 12 to 15 minutes for two realisations at once on 2 contended cores). The seed's 200^3 / 300 Mpc box
(recipe ``reionization_seed_size``) takes ~10 minutes and 6.2 GB for its initial conditions (a 600^3 grid), ~80 s per
perturbed field and ~60 s per ionised box: ~4 hours a realisation on one core.

Needs the optional extra ``kzoo[reionization]`` (21cmFAST 4.1.1, built from source against the system FFTW
and GSL: ``apt-get install libfftw3-dev libgsl-dev`` first). Deterministic: one thread (``threads``), the
same generator state gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("redshift", "escape_fraction", "z_class", "fesc_class", "x_hi", "mean_tb_mk", "realization")
FEATURES = ("map",)
INSTALL = ("the reionization sky runs 21cmFAST, which is not installed: apt-get install libfftw3-dev libgsl-dev, "
           "then pip install 'kzoo[reionization]' (21cmFAST 4.1.1 builds from source in ~3 minutes)")

DEFAULTS = dict(
    npix=64,
    box_mpc=96.0,
    redshift_range=(5.0, 13.0),
    redshift_step=0.5,
    escape_fraction_range=(0.07, 0.13),
    escape_fractions=12,
    slices_per_box=16,
    tb_scale_mk=70.0,
    r_bubble_max_mpc=15.0,
    hires_factor=3,
    threads=1,
)

PARAMS = dict(
    npix=Param(int, 8, 512),
    box_mpc=Param(float, 0, above=True),
    redshift_range=Param(float, 5.0, 35.0, pair="<="),
    redshift_step=Param(float, 0, above=True),
    escape_fraction_range=Param(float, 0, 1, pair="<=", above=True),
    escape_fractions=Param(int, 1, 100),
    slices_per_box=Param(int, 1, 512),
    tb_scale_mk=Param(float, 0, above=True),
    r_bubble_max_mpc=Param(float, 0, above=True),
    hires_factor=Param(int, 1, 4),
    threads=Param(int, 1, 64),
)
# A group is a whole realisation (minutes): the shard writer's timing probe would cost two of them. The cost
# is stated above and in each recipe instead.
PROBE_PIXELS = 1 << 62
# Peak memory per pixel of a map simulated (kzoo.data.shards' bound): the float32 map and its copy on the way
# into the shard; the boxes of one realisation (a few 64^3 to 600^3 arrays) come on top, once.
SIM_BYTES_PER_PIXEL = 16


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    from kzoo.sims.params import ParamError

    p = check_params("reionization", PARAMS, DEFAULTS, params)
    problems = []
    if p["slices_per_box"] > p["npix"]:
        problems.append(("slices_per_box", f"is {p['slices_per_box']}, more than the box's npix={p['npix']} slices"))
    if p["r_bubble_max_mpc"] > p["box_mpc"] / 3:
        problems.append(("r_bubble_max_mpc", f"is {p['r_bubble_max_mpc']:g}, more than a third of box_mpc="
                                             f"{p['box_mpc']:g} (21cmFAST refuses bubbles that large)"))
    if problems:
        raise ParamError("reionization", problems)
    return p


def redshifts(p: dict) -> np.ndarray:
    """The recipe's redshift grid: redshift_range[0] to redshift_range[1] by redshift_step."""
    lo, hi = p["redshift_range"]
    return np.round(lo + p["redshift_step"] * np.arange(int(round((hi - lo) / p["redshift_step"])) + 1), 6)


def escape_fractions(p: dict) -> np.ndarray:
    """The recipe's escape fractions: ``escape_fractions`` values evenly spaced over escape_fraction_range."""
    lo, hi = p["escape_fraction_range"]
    return np.round(np.linspace(lo, hi, int(p["escape_fractions"])), 6)


def group_size(p: dict) -> int:
    """Maps of one realisation: redshifts x escape fractions x slices (kept whole in one split)."""
    return len(redshifts(p)) * len(escape_fractions(p)) * int(p["slices_per_box"])


def class_names(params: dict, label: str) -> list[str]:
    """How the classes of ``z_class`` or ``fesc_class`` read: the grid's values (kzoo.evaluate's confusion
    matrices); [] for another label."""
    if label not in ("z_class", "fesc_class"):
        return []
    p = validate_params(params)
    values = redshifts(p) if label == "z_class" else escape_fractions(p)
    return [f"{v:.3g}" for v in values]


def label_ranges(**params) -> dict[str, tuple[float, float]]:
    p = validate_params(params)
    z, f = redshifts(p), escape_fractions(p)
    return {"redshift": (float(np.float32(z[0])), float(np.float32(z[-1]))),
            "escape_fraction": (float(np.float32(f[0])), float(np.float32(f[-1]))),
            "z_class": (0.0, float(len(z) - 1)), "fesc_class": (0.0, float(len(f) - 1)),
            "x_hi": (0.0, 1.0), "mean_tb_mk": (-1e3, 1e3), "realization": (0.0, 1e6)}


def _p21c():
    try:
        import py21cmfast
    except ImportError as e:
        raise ImportError(f"{INSTALL} ({e})") from None
    return py21cmfast


def check_available():
    """Raise the ImportError that says what to install when 21cmFAST is missing (before anything is written)."""
    _p21c()


def realization(seed: int, p: dict):
    """Yield ``(redshift, escape_fraction, brightness-temperature box (mK), neutral fraction box)`` over the
    grid for the initial conditions of ``seed`` (redshift outer, escape fraction inner)."""
    p21c = _p21c()
    inputs = p21c.InputParameters.from_template(["simple"], random_seed=int(seed), node_redshifts=[])
    inputs = inputs.evolve_input_structs(HII_DIM=int(p["npix"]), BOX_LEN=float(p["box_mpc"]),
                                         DIM=int(p["hires_factor"]) * int(p["npix"]), N_THREADS=int(p["threads"]),
                                         R_BUBBLE_MAX=float(p["r_bubble_max_mpc"]))
    ics = p21c.compute_initial_conditions(inputs=inputs)
    for z in redshifts(p):
        pf = p21c.perturb_field(redshift=float(z), initial_conditions=ics, inputs=inputs)
        for f in escape_fractions(p):
            astro = inputs.evolve_input_structs(F_ESC10=float(np.log10(f)))
            ion = p21c.compute_ionization_field(perturbed_field=pf, initial_conditions=ics, inputs=astro)
            bt = p21c.brightness_temperature(ionized_box=ion, perturbed_field=pf)
            yield float(z), float(f), np.asarray(bt.get("brightness_temp")), np.asarray(ion.get("neutral_fraction"))


def simulate(rng: np.random.Generator, n: int, **params) -> dict[str, np.ndarray]:
    """``n`` maps (``map``: (n, npix, npix) float32) in whole realisations of ``group_size`` maps."""
    p = validate_params(params)
    per = group_size(p)
    if n % per:
        raise ValueError(f"reionization: {n} maps is not a whole number of realisations of {per} maps (redshifts x "
                         f"escape fractions x slices_per_box); make the recipe's split sizes multiples of {per}")
    npix, k = int(p["npix"]), int(p["slices_per_box"])
    where = (np.arange(k) * npix) // k
    z_grid, f_grid = list(redshifts(p)), list(escape_fractions(p))
    maps = np.empty((n, npix, npix), np.float32)
    labels = np.empty((n, len(LABELS)), np.float32)
    i = 0
    for r in range(n // per):
        for z, f, tb, xh in realization(int(rng.integers(1, 2**31 - 1)), p):
            maps[i:i + k] = np.moveaxis(tb[:, :, where], -1, 0) / p["tb_scale_mk"]
            labels[i:i + k] = [z, f, z_grid.index(z), f_grid.index(f), float(np.mean(xh)), float(np.mean(tb)), r]
            i += k
    return {"map": maps, "labels": labels}
