"""Gamma-ray counts maps of the inner Galaxy (seed 000, "Applying ML on simulations of the Milky Way").

Numpy only, vectorised over ``n`` images, deterministic for a ``numpy.random.Generator``.

The defaults simulate the sky of the simulator seed 000 ran, the Astromatic 2022 problem notebook
"P6 galactic-center excess" (its ``Simulator`` class; SEED-NOTES.md): a gently varying gas map,
an un-normalised PSF kernel and a toy disk of point sources. ``gas_model="lognormal"``,
``psf_normalised=True``, ``disk_model="line_of_sight"`` and ``bubble_hemispheres=False`` give kzoo's
earlier, more physical sky (recipe ``galactic_center_physical``), byte for byte.

Conventions
-----------
* The map covers ``|l| <= half_width_deg`` and ``|b| <= half_width_deg`` (Galactic longitude and
  latitude, degrees) on an ``npix x npix`` grid of pixel centres, ``step = 2 half_width_deg / npix``
  degrees apart (0.469 deg at the defaults). Array axis 0 is latitude with row 0 at
  ``b = +half_width`` (north up); axis 1 is longitude with column 0 at ``l = +half_width`` (east
  left, as on the sky).
* Every map is in **expected photon counts per pixel** for the (unspecified) exposure the
  template scales encode; ``counts`` is a Poisson draw of the PSF-blurred expected map.
* Diffuse templates (each multiplied by its amplitude ``A ~ U(amplitude_range)``), l and b in degrees:

  - pi0 / gas: ``gas_scale * exp(g) * exp(-(l/20)^2) * exp(-(b/5)^2)`` counts per pixel, ``g`` a
    fresh random log field per image, drawn on the frame itself (white noise zero beyond it):

    * ``gas_model="seed"``: ``g(x) = sum_y K(|x - y|) w(y) / gas_log_divisor`` with ``w`` unit
      white noise per pixel and the UN-normalised kernel ``K(d) = exp(-d^2 / (2 gas_length_deg^2))``,
      ``d`` in degrees between pixel centres (truncated at 6 ``gas_length_deg``, where it is below
      2e-8). No mean shift. At the defaults (0.25 deg, divisor 8, 0.469 deg pixels) ``g`` has a
      standard deviation of 1.059 / 8 = 0.132 (pixels vary by ~13 %), a neighbour correlation of
      0.33 and ``exp(g)`` a mean of 1.009. The kernel's norm depends on the pixel size, so its
      standard deviation does too (0.125 at 0.94 deg pixels), as in the seed;
    * ``gas_model="lognormal"``: ``g`` a unit-variance Gaussian random field with the RBF
      covariance ``exp(-d^2 / (2 gas_length_deg^2))`` (white noise convolved with a unit-sum
      Gaussian of sigma ``gas_length_deg / sqrt(2)``, truncated at 3 ``gas_length_deg``, rescaled),
      shifted by -1/2 so that ``exp(g)`` has mean 1: pixels vary by ~130 %, neighbour correlation
      0.06 at the defaults. ``gas_log_divisor`` is unused.

    Within one kernel width of the frame's edge the field's variance is reduced (zero beyond the
    frame): negligible at 0.25 deg, noticeable at the left and right edges for lengths of degrees;
  - inverse Compton: ``ic_scale * exp(-|b| / 5)``;
  - Fermi bubbles: ``bubble_scale`` beyond two lobes bounded by the cosh-shaped edges
    ``b = 10.5 (cosh((-l-1)/10.5) - 1) + 1`` (north) and ``b = -8.7 (cosh((-l+1.7)/8.7) - 1) - 1``
    (south), softened by a logistic of width ``bubble_edge_deg``: ``sigmoid((b - north) / w)`` and
    ``sigmoid((south - b) / w)``. ``bubble_hemispheres=True`` (the seed) takes the first at b > 0 and
    the second at b < 0; False adds both everywhere (each leaks up to 0.16 across the plane);
  - dark matter: ``dm_scale * Gamma(shape 0.5, scale 5 deg).pdf(r)`` (the pdf per degree), ``r`` the
    angular distance from the Galactic centre in degrees (spherically symmetric, cuspy).

* Point sources, fluxes log-normal (``flux_mu``, ``flux_sigma``, natural log of counts):

  - Galactic-centre population: ``n_gc ~ randint(n_gc_range)``, angular radius
    ``r ~ Gamma(gc_radius_shape, gc_radius_scale_deg)`` degrees, uniform position angle;
  - disk population: ``n_disk ~ randint(n_disk_range)`` of an exponential disk of scale radius
    ``disk_scale_radius_kpc`` and scale height ``disk_scale_height_kpc`` seen from ``sun_distance_kpc``:

    * ``disk_model="toy"`` (the seed): ``l = R cos(u)`` degrees with ``R ~ Exponential(mean
      disk_scale_radius_kpc / sun_distance_kpc rad)`` (34.5 deg) and ``u ~ U(0, 2 pi)``;
      ``|b| ~ Exponential(mean disk_scale_height_kpc / sun_distance_kpc rad)`` (2.07 deg) with a
      random sign. 36 % of the in-frame sources lie within |l| < 3 deg;
    * ``disk_model="line_of_sight"``: the sky density of the disk (surface density
      ``exp(-R / disk_scale_radius_kpc)``, vertical ``exp(-|z| / disk_scale_height_kpc)``), the
      line-of-sight integral ``int rho(s) s^2 ds`` evaluated once per pixel on a 4 x 4 sub-grid;
      sources are drawn from that pixel map with a uniform sub-pixel offset (exact at pixel
      resolution). About 20 % within |l| < 3 deg. Its table takes ~1 GB at npix 128, 4 GB at 256.

  - Sources outside the frame are redrawn, so every image holds exactly ``n_gc + n_disk``.

* The sum is blurred with a Gaussian PSF, the kernel ``exp(-r^2 / (2 psf_sigma_deg^2))`` sampled at
  the ``psf_size x psf_size`` pixel-centre offsets (zero beyond the map edge), and Poisson-sampled.
  ``psf_normalised=False`` (the seed) keeps the kernel's peak at 1: its sum, 2.047 at the defaults,
  multiplies every expected count (about 134,500 counts per image on average); True divides it by
  its sum (flux conserving, about 65,000 counts per image).
* ``rotate=True`` rotates each sky by a random angle about the Galactic centre (templates and
  source positions alike) before pixelisation.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kzoo.sims.params import Param, check_params

LABELS = ("A_dm", "A_pi0", "A_ic", "A_bubbles", "n_ps_gc", "n_ps_disk")
FEATURES = ("counts", "expected", "ps_flux")
COMPONENTS = ("dm", "pi0", "ic", "bubbles", "point sources")  # simulate(..., components=True): the expected counts of each

DEFAULTS = dict(
    npix=64,
    half_width_deg=15.0,
    amplitude_range=(0.0, 1.0),
    gas_scale=50.0,
    gas_model="seed",
    gas_length_deg=0.25,
    gas_log_divisor=8.0,
    ic_scale=25.0,
    bubble_scale=3.0,
    bubble_edge_deg=0.6,
    bubble_hemispheres=True,
    dm_scale=100.0,
    n_gc_range=(200, 800),
    gc_radius_shape=1.5,
    gc_radius_scale_deg=5.0,
    n_disk_range=(1000, 4000),
    disk_model="toy",
    disk_scale_radius_kpc=5.0,
    disk_scale_height_kpc=0.3,
    sun_distance_kpc=8.3,
    flux_mu=1.0,
    flux_sigma=1.2,
    psf_sigma_deg=0.8 / 3.0,
    psf_size=5,
    psf_normalised=False,
    rotate=False,
)

# kzoo's earlier sky (recipe galactic_center_physical): the parameters that differ from DEFAULTS.
PHYSICAL = dict(gas_model="lognormal", psf_normalised=True, disk_model="line_of_sight", bubble_hemispheres=False)


# The type and allowed range of each parameter (kzoo.sims.params). npix is capped because peak memory
# grows as npix^2 with disk_model="line_of_sight" (its 4x4 sub-grid times 100 distances: about 1.1 GB
# at npix 128, 4 GB at 256); n_*_range and psf_size bound the point sources and the PSF kernel per image.
PARAMS = dict(
    npix=Param(int, 1, 256),
    half_width_deg=Param(float, 0, 90, above=True),
    amplitude_range=Param(float, 0, pair="<="),
    gas_scale=Param(float, 0),
    gas_model=Param(str, choices=("seed", "lognormal")),
    gas_length_deg=Param(float, 0, 90, above=True),
    gas_log_divisor=Param(float, 0, above=True),
    ic_scale=Param(float, 0),
    bubble_scale=Param(float, 0),
    bubble_edge_deg=Param(float, 0, above=True),
    bubble_hemispheres=Param(bool),
    dm_scale=Param(float, 0),
    n_gc_range=Param(int, 0, 100_000, pair="<"),
    gc_radius_shape=Param(float, 0, above=True),
    gc_radius_scale_deg=Param(float, 0, above=True),
    n_disk_range=Param(int, 0, 100_000, pair="<"),
    disk_model=Param(str, choices=("toy", "line_of_sight")),
    disk_scale_radius_kpc=Param(float, 0, above=True),
    disk_scale_height_kpc=Param(float, 0, above=True),
    sun_distance_kpc=Param(float, 0, above=True),
    flux_mu=Param(float, -20, 20),
    flux_sigma=Param(float, 0, 10),
    psf_sigma_deg=Param(float, 0),
    psf_size=Param(int, 1, 101, odd=True),
    psf_normalised=Param(bool),
    rotate=Param(bool),
)

def label_ranges(**params) -> dict[str, tuple[float, float]]:
    """The interval each label is drawn from (integers: ``[low, high - 1]``)."""
    p = validate_params(params)
    amp = tuple(map(float, p["amplitude_range"]))
    return {
        "A_dm": amp, "A_pi0": amp, "A_ic": amp, "A_bubbles": amp,
        "n_ps_gc": (float(p["n_gc_range"][0]), float(p["n_gc_range"][1] - 1)),
        "n_ps_disk": (float(p["n_disk_range"][0]), float(p["n_disk_range"][1] - 1)),
    }


def validate_params(params: dict) -> dict:
    """Merge ``params`` over DEFAULTS; raise ParamError (a ValueError) naming every bad parameter."""
    return check_params("galactic_center", PARAMS, DEFAULTS, params)


def pixel_centres(npix: int, half_width_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(l, b) in degrees of the pixel centres, each of shape (npix, npix), in the array convention above."""
    step = 2.0 * half_width_deg / npix
    centres = half_width_deg - (np.arange(npix) + 0.5) * step  # decreasing: +hw ... -hw
    b, l = np.meshgrid(centres, centres, indexing="ij")
    return l, b


def gaussian_kernel_1d(sigma_pix: float, size: int, normalise: bool = True) -> np.ndarray:
    """Sampled Gaussian ``exp(-x^2 / (2 sigma_pix^2))`` of ``size`` taps (a delta when sigma is 0),
    divided by its sum when ``normalise``, else with its peak at 1."""
    x = np.arange(size) - size // 2
    if sigma_pix <= 0:
        return (x == 0).astype(np.float64)
    k = np.exp(-0.5 * (x / sigma_pix) ** 2)
    return k / k.sum() if normalise else k


def separable_filter(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate the last two axes of ``images`` with ``kernel`` along each axis, zero padding ('same')."""
    from scipy.ndimage import correlate1d

    out = correlate1d(images, kernel.astype(images.dtype), axis=-1, mode="constant")
    return correlate1d(out, kernel.astype(images.dtype), axis=-2, mode="constant")


def psf_kernel_1d(p: dict) -> np.ndarray:
    """One axis of the separable PSF kernel of validated parameters ``p`` (the 2-D kernel is its outer
    product): unit sum when ``psf_normalised``, else the seed's peak-1 kernel (2-D sum 2.047 at the defaults)."""
    step = 2.0 * p["half_width_deg"] / p["npix"]
    return gaussian_kernel_1d(p["psf_sigma_deg"] / step, int(p["psf_size"]), normalise=bool(p["psf_normalised"]))


def gas_kernel_1d(p: dict) -> np.ndarray:
    """One axis of the separable kernel that turns white noise into the gas log field (before its
    scaling), for validated parameters ``p``: see the module docstring."""
    step = 2.0 * p["half_width_deg"] / p["npix"]
    length = p["gas_length_deg"]
    if p["gas_model"] == "seed":  # the seed's un-normalised exp(-d^2 / (2 length^2)), d in degrees
        half = min(int(math.ceil(6.0 * length / step)), int(p["npix"]) - 1)
        return gaussian_kernel_1d(length / step, 2 * half + 1, normalise=False)
    return gaussian_kernel_1d(length / math.sqrt(2.0) / step, 2 * int(math.ceil(3 * length / step)) + 1)


def gas_log_field(white: np.ndarray, p: dict) -> np.ndarray:
    """The gas log field ``g`` (float32, the shape of ``white``) from unit white noise (float32)."""
    kern = gas_kernel_1d(p)
    g = separable_filter(white, kern)
    if p["gas_model"] == "seed":
        return np.divide(g, np.float32(p["gas_log_divisor"]), out=g)
    g = np.divide(g, np.float32(np.sum(kern**2)), out=g)
    return np.subtract(g, np.float32(0.5), out=g)


def gas_mean_factor(p: dict) -> np.ndarray:
    """E[exp(g)] per pixel (npix, npix): the gas template's mean is the envelope times this. The log
    field is Gaussian; its variance per pixel is the product of the two axes' sums of the squared
    kernel over the in-frame pixels (reduced near the edge, where the noise is zero beyond the frame)."""
    from scipy.ndimage import correlate1d

    kern = gas_kernel_1d(p)
    v1 = correlate1d(np.ones(int(p["npix"])), kern**2, mode="constant")
    var = np.outer(v1, v1)
    if p["gas_model"] == "seed":
        return np.exp(0.5 * var / p["gas_log_divisor"] ** 2)
    return np.exp(0.5 * var / np.sum(kern**2) ** 2 - 0.5)


def _templates(l: np.ndarray, b: np.ndarray, p: dict) -> dict[str, np.ndarray]:
    """Smooth templates evaluated at (l, b) degrees (any broadcastable shape)."""
    r = np.sqrt(l**2 + b**2)
    a = 0.5
    dm = p["dm_scale"] * r ** (a - 1) * np.exp(-r / 5.0) / (math.gamma(a) * 5.0**a)
    ic = p["ic_scale"] * np.exp(-np.abs(b) / 5.0)
    north = 10.5 * (np.cosh((-l - 1.0) / 10.5) - 1.0) + 1.0
    south = -8.7 * (np.cosh((-l + 1.7) / 8.7) - 1.0) - 1.0
    w = p["bubble_edge_deg"]
    if p["bubble_hemispheres"]:  # the seed: the north lobe's edge above the plane, the south's below
        bubbles = p["bubble_scale"] * np.where(b > 0, _sigmoid((b - north) / w),
                                               np.where(b < 0, _sigmoid((south - b) / w), 0.0))
    else:
        bubbles = p["bubble_scale"] * (_sigmoid((b - north) / w) + _sigmoid((south - b) / w))
    gas_envelope = p["gas_scale"] * np.exp(-((l / 20.0) ** 2)) * np.exp(-((b / 5.0) ** 2))
    return {"dm": dm, "ic": ic, "bubbles": bubbles, "gas_envelope": gas_envelope}


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@functools.lru_cache(maxsize=8)
def _disk_pixel_prob(npix: int, half_width: float, rd: float, h: float, r_sun: float, rotate: bool):
    """Probability per pixel of the (possibly enlarged) sampling grid of the disk population's sky density."""
    step = 2.0 * half_width / npix
    # With rotation, sources come from the circle that any rotated frame can reach.
    extra = int(math.ceil((half_width * math.sqrt(2.0) - half_width) / step)) if rotate else 0
    m = npix + 2 * extra
    hw = half_width + extra * step
    sub = 4
    fine = hw - (np.arange(m * sub) + 0.5) * step / sub
    s = np.linspace(0.0, 4.0 * r_sun, 801)[1:]  # heliocentric distance, kpc
    ds = s[1] - s[0]
    lrad = np.deg2rad(fine)[None, :, None]
    brad = np.deg2rad(fine)[:, None, None]
    dens = np.zeros((m * sub, m * sub))
    for i0 in range(0, len(s), 100):  # chunks keep memory small
        ss = s[i0:i0 + 100][None, None, :]
        x = ss * np.cos(brad) * np.cos(lrad) - r_sun
        y = ss * np.cos(brad) * np.sin(lrad)
        z = ss * np.sin(brad)
        rho = np.exp(-np.sqrt(x**2 + y**2) / rd - np.abs(z) / h)
        dens += (rho * ss**2).sum(-1) * ds
    dens *= np.cos(np.deg2rad(fine))[:, None]  # solid angle of a flat (l, b) cell
    pix = dens.reshape(m, sub, m, sub).sum(axis=(1, 3))
    if rotate:  # only pixels inside the circle of radius half_width*sqrt(2) can be seen
        lc, bc = pixel_centres(m, hw)
        pix[np.sqrt(lc**2 + bc**2) > half_width * math.sqrt(2.0) + step] = 0.0
    return pix / pix.sum(), m, hw


@functools.lru_cache(maxsize=8)
def _disk_alias(*args):
    prob, m, hw = _disk_pixel_prob(*args)
    return _alias_table(prob.ravel()), m, hw


def toy_disk_scales_deg(p: dict) -> tuple[float, float]:
    """The toy disk's (mean R, mean |b|) in degrees: its scale radius and height seen at the Sun's distance."""
    return (math.degrees(p["disk_scale_radius_kpc"] / p["sun_distance_kpc"]),
            math.degrees(p["disk_scale_height_kpc"] / p["sun_distance_kpc"]))


def toy_disk_cdf(l, b, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """The toy disk's CDFs of l and of b (degrees) before the frame's cut: ``l = R cos(u)`` with
    ``P(l > x) = E[exp(-x / (R_mean cos u))] / 2`` over u uniform in (0, pi/2) for x >= 0 (symmetric;
    a 8192-point midpoint rule, exact to ~1e-12), and ``b`` Laplace. l and b are independent, so the
    in-frame density is the product of the two marginals cut to the frame."""
    rd, h = toy_disk_scales_deg(p)
    c = np.cos((np.arange(8192) + 0.5) / 8192 * (0.5 * np.pi))
    l, b = np.asarray(l, np.float64), np.asarray(b, np.float64)
    tail_l = 0.5 * np.mean(np.exp(-np.abs(l)[..., None] / (rd * c)), axis=-1)
    tail_b = 0.5 * np.exp(-np.abs(b) / h)
    return np.where(l >= 0, 1.0 - tail_l, tail_l), np.where(b >= 0, 1.0 - tail_b, tail_b)


@functools.lru_cache(maxsize=8)
def _toy_disk_pixel_prob(npix: int, half_width: float, rd: float, h: float, r_sun: float) -> np.ndarray:
    """Probability per pixel (npix, npix) of the toy disk's in-frame sources (exact at pixel resolution)."""
    p = {"disk_scale_radius_kpc": rd, "disk_scale_height_kpc": h, "sun_distance_kpc": r_sun}
    edges = half_width - np.arange(npix + 1) * (2.0 * half_width / npix)  # decreasing, as rows and columns
    fl, fb = toy_disk_cdf(edges, edges, p)
    prob = np.outer(fb[:-1] - fb[1:], fl[:-1] - fl[1:])
    return prob / prob.sum()


@functools.lru_cache(maxsize=8)
def _toy_disk_alias(*args):
    return _alias_table(_toy_disk_pixel_prob(*args).ravel())


def _alias_table(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table: draw index i with probability prob[i] in O(1) per sample."""
    k = prob.size
    scaled = prob * k
    accept = np.ones(k)
    alias = np.arange(k)
    small = [i for i in range(k) if scaled[i] < 1.0]
    large = [i for i in range(k) if scaled[i] >= 1.0]
    while small and large:
        s_, l_ = small.pop(), large[-1]
        accept[s_], alias[s_] = scaled[s_], l_
        scaled[l_] -= 1.0 - scaled[s_]
        if scaled[l_] < 1.0:
            small.append(large.pop())
    return accept, alias


def _draw_positions(rng, image_of, angles, p, sampler):
    """Draw one in-frame (l, b) per entry of ``image_of``; redraw the ones a rotation puts outside."""
    hw = p["half_width_deg"]
    n = len(image_of)
    l = np.empty(n)
    b = np.empty(n)
    pending = np.arange(n)
    while pending.size:
        lr, br = sampler(pending.size)
        if angles is not None:
            theta = angles[image_of[pending]]
            c, s = np.cos(theta), np.sin(theta)
            lr, br = c * lr - s * br, s * lr + c * br
        ok = (np.abs(lr) < hw) & (np.abs(br) < hw)
        l[pending[ok]] = lr[ok]
        b[pending[ok]] = br[ok]
        pending = pending[~ok]
    return l, b


def mean_templates(**params) -> dict[str, np.ndarray]:
    """PSF-blurred expected maps (npix, npix) of each component at amplitude 1, for template fits.

    ``dm``, ``ic``, ``bubbles`` are exact; ``gas`` is the envelope times the mean of ``exp(g)`` per
    pixel (``gas_mean_factor``); ``ps_gc`` and ``ps_disk`` are the mean point-source flux of a
    population of the mean size (n at the middle of its range, mean log-normal flux) spread by its sky
    density (the toy disk's exactly, the line-of-sight disk's on its 4 x 4 sub-grid).
    Only for unrotated skies.
    """
    p = validate_params(params)
    if p["rotate"]:
        raise ValueError("galactic_center.mean_templates: rotate must be False (a rotated sky has no fixed template)")
    npix, hw = int(p["npix"]), float(p["half_width_deg"])
    step = 2.0 * hw / npix
    l, b = pixel_centres(npix, hw)
    t = _templates(l, b, p)
    mean_flux = math.exp(p["flux_mu"] + 0.5 * p["flux_sigma"] ** 2)
    if p["disk_model"] == "toy":
        disk = _toy_disk_pixel_prob(npix, hw, p["disk_scale_radius_kpc"], p["disk_scale_height_kpc"], p["sun_distance_kpc"])
    else:
        disk, _, _ = _disk_pixel_prob(npix, hw, p["disk_scale_radius_kpc"], p["disk_scale_height_kpc"],
                                      p["sun_distance_kpc"], False)
    # GC population: density of r ~ Gamma(k, theta) with a uniform angle is pdf(r) / (2 pi r), on a 4x4 sub-grid.
    sub = 4
    fine = hw - (np.arange(npix * sub) + 0.5) * step / sub
    fb, fl = np.meshgrid(fine, fine, indexing="ij")
    r = np.hypot(fl, fb)
    k, theta = p["gc_radius_shape"], p["gc_radius_scale_deg"]
    dens = r ** (k - 2) * np.exp(-r / theta)
    gc_prob = dens.reshape(npix, sub, npix, sub).sum(axis=(1, 3))
    gc_prob /= gc_prob.sum()
    n_gc, n_disk = np.mean(p["n_gc_range"]) - 0.5, np.mean(p["n_disk_range"]) - 0.5
    maps = {"dm": t["dm"], "pi0": t["gas_envelope"] * gas_mean_factor(p), "ic": np.broadcast_to(t["ic"], l.shape),
            "bubbles": t["bubbles"], "ps_gc": n_gc * mean_flux * gc_prob, "ps_disk": n_disk * mean_flux * disk}
    psf = psf_kernel_1d(p)
    return {name: separable_filter(np.asarray(m, dtype=np.float64), psf) for name, m in maps.items()}


def simulate(rng: np.random.Generator, n: int, components: bool = False, **params) -> dict[str, np.ndarray]:
    """Simulate ``n`` counts maps.

    Returns a dict of float32 arrays: ``counts`` (n, npix, npix) Poisson counts, ``expected``
    (n, npix, npix) the PSF-blurred expected counts, ``ps_flux`` (n, npix, npix) the point-source
    flux per pixel before the PSF (masks for segmentation), and ``labels`` (n, 6) in the order of
    ``LABELS``: A_dm, A_pi0, A_ic, A_bubbles, n_ps_gc, n_ps_disk. With ``components`` also
    ``components`` (n, 5, npix, npix): each image's PSF-blurred dm, pi0 (its own gas realisation),
    ic and bubbles maps at amplitude 1 and its blurred point-source map, so that ``expected`` is
    ``sum_k A_k components[:, k] + components[:, 4]`` (the same random draws either way).

    Raises ValueError naming the parameter when a parameter is invalid or ``n <= 0``.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"galactic_center.simulate: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(n) != n or n <= 0:
        raise ValueError(f"galactic_center.simulate: n must be a positive integer, got {n!r}")
    n = int(n)
    p = validate_params(params)
    npix, hw = int(p["npix"]), float(p["half_width_deg"])
    step = 2.0 * hw / npix

    amps = rng.uniform(*p["amplitude_range"], size=(n, 4))  # dm, pi0, ic, bubbles
    n_gc = rng.integers(*p["n_gc_range"], size=n)
    n_disk = rng.integers(*p["n_disk_range"], size=n)
    angles = rng.uniform(0.0, 2.0 * math.pi, size=n) if p["rotate"] else None

    # Smooth templates, at the sky position each pixel sees after rotation.
    l0, b0 = pixel_centres(npix, hw)
    if p["rotate"]:
        c, s = np.cos(-angles)[:, None, None], np.sin(-angles)[:, None, None]
        l, b = c * l0 - s * b0, s * l0 + c * b0
    else:
        l, b = l0[None], b0[None]
    t = _templates(l, b, p)

    # Gas: a fresh log field per image (gas_model: the seed's or a unit-variance log-normal one).
    g = gas_log_field(rng.standard_normal((n, npix, npix), dtype=np.float32), p)
    gas = np.multiply(t["gas_envelope"].astype(np.float32), np.exp(g, out=g), out=g)

    # a0 dm + a1 gas + a2 ic + a3 bubbles, summed in that order, in place (fresh arrays of this size cost page faults)
    a32 = amps.astype(np.float32)[:, :, None, None]
    expected = a32[:, 0] * t["dm"].astype(np.float32)
    term = np.multiply(a32[:, 1], gas)
    expected += term
    for k, name in ((2, "ic"), (3, "bubbles")):
        expected += np.multiply(a32[:, k], t[name].astype(np.float32), out=term)

    # Point sources.
    def gc_sampler(m):
        r = rng.gamma(p["gc_radius_shape"], p["gc_radius_scale_deg"], size=m)
        phi = rng.uniform(0.0, 2.0 * math.pi, size=m)
        return r * np.cos(phi), r * np.sin(phi)

    def toy_disk_sampler(m):  # the seed's: l = R cos(u); |b| exponential with a random sign, i.e. b Laplace
        r = rng.exponential(rd_deg, size=m)
        u = rng.uniform(0.0, 2.0 * math.pi, size=m)
        return r * np.cos(u), rng.laplace(0.0, h_deg, size=m)

    disk_args = (npix, hw, p["disk_scale_radius_kpc"], p["disk_scale_height_kpc"], p["sun_distance_kpc"])
    if p["disk_model"] == "toy":
        rd_deg, h_deg = toy_disk_scales_deg(p)
        if angles is None:  # unrotated, only the pixel matters: draw it from the exact in-frame pixel map
            accept, alias = _toy_disk_alias(*disk_args)
    else:
        (accept, alias), m_grid, hw_grid = _disk_alias(*disk_args, bool(p["rotate"]))

    def disk_pixels(m):
        u = rng.random((2, m))
        idx = np.minimum((u[0] * accept.size).astype(np.int64), accept.size - 1)
        return np.where(u[1] < accept[idx], idx, alias[idx])

    def disk_sampler(m):  # continuous positions: uniform within the drawn pixel
        row, col = np.divmod(disk_pixels(m), m_grid)
        off = rng.random((2, m))
        return hw_grid - (col + off[0]) * step, hw_grid - (row + off[1]) * step

    def to_pixels(l_, b_):
        return (np.clip(((hw - b_) / step).astype(np.int64), 0, npix - 1) * npix
                + np.clip(((hw - l_) / step).astype(np.int64), 0, npix - 1))

    image_gc = np.repeat(np.arange(n), n_gc)
    image_disk = np.repeat(np.arange(n), n_disk)
    pix_gc = to_pixels(*_draw_positions(rng, image_gc, angles, p, gc_sampler))
    if angles is None:  # the sampling grid is the frame: every draw lands inside
        pix_disk = disk_pixels(image_disk.size)
    elif p["disk_model"] == "toy":  # rotated: continuous positions, redrawn when outside the rotated frame
        pix_disk = to_pixels(*_draw_positions(rng, image_disk, angles, p, toy_disk_sampler))
    else:
        pix_disk = to_pixels(*_draw_positions(rng, image_disk, angles, p, disk_sampler))
    flat = np.concatenate([image_gc * npix * npix + pix_gc, image_disk * npix * npix + pix_disk])
    flux = np.exp(np.float32(p["flux_mu"]) + np.float32(p["flux_sigma"]) * rng.standard_normal(flat.size, dtype=np.float32))
    ps_flux = np.bincount(flat, weights=flux, minlength=n * npix * npix).reshape(n, npix, npix).astype(np.float32)

    psf = psf_kernel_1d(p)
    expected += ps_flux
    expected = separable_filter(expected, psf)
    counts = rng.poisson(expected)

    labels = np.concatenate([amps, n_gc[:, None], n_disk[:, None]], axis=1)
    out = {
        "counts": counts.astype(np.float32),
        "expected": expected,
        "ps_flux": ps_flux,
        "labels": labels.astype(np.float32),
    }
    if components:
        maps = [t["dm"], gas, t["ic"], t["bubbles"], ps_flux]  # fixed templates blurred once, then broadcast
        out["components"] = np.stack([np.broadcast_to(separable_filter(np.asarray(m, np.float32), psf), (n, npix, npix))
                                      for m in maps], axis=1)
    return out
