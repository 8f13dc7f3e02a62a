"""Fitting spectra with the Cash statistic: the model folded through ARF and RMF, the C- and
W-statistics, best fits and profile-likelihood intervals (method.md §15).

Written by hand with numpy and scipy: Sherpa (which does this) does not build from the
package registry, and the fits need only a diagonal-plus-redistribution response and the
package's own spectral model (:func:`xsurvey.instrument.spectral.photon_spectrum`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.cosmology import Planck18
from scipy.optimize import brentq, minimize, minimize_scalar
from scipy.special import xlogy

from xsurvey.instrument import reprocessing, spectral

#: Delta statistic of a 90% interval of one parameter (chi^2 with 1 dof).
DELTA_90 = 2.705543454095404


def cstat(counts, model) -> float:
    """Cash statistic in the XSPEC form, ``2 sum(m - n + n ln(n / m))``.

    Zero for a model equal to the counts; differences are distributed as chi^2 for large
    counts. ``n ln n`` is 0 for ``n = 0``.
    """
    n = np.asarray(counts, float)
    m = np.asarray(model, float)
    return float(2.0 * np.sum(m - n + xlogy(n, n) - xlogy(n, m)))


def profile_background(counts, background, model, alpha):
    """The background (source-region counts) that maximises the Poisson likelihood of a
    source and a background spectrum, given the source model.

    ``S ~ Poisson(m + b)``, ``B ~ Poisson(b / alpha)``: ``b`` is the positive root of
    ``k b^2 + (k m - S - B) b - B m = 0`` with ``k = 1 + 1 / alpha`` (XSPEC's W-statistic).
    """
    s, bk, m = (np.asarray(v, float) for v in (counts, background, model))
    k = 1.0 + 1.0 / np.asarray(alpha, float)
    c = k * m - s - bk
    return (-c + np.sqrt(c * c + 4.0 * k * bk * m)) / (2.0 * k)


def wstat(counts, background, model, alpha) -> float:
    """W-statistic: the Cash statistic of a source spectrum with a background spectrum whose
    expectation is profiled out (:func:`profile_background`); ``alpha`` scales background
    counts to the source region (exposure x BACKSCAL ratio)."""
    s, bk, m = (np.asarray(v, float) for v in (counts, background, model))
    a = np.asarray(alpha, float)
    b = profile_background(s, bk, m, a)
    total, off = m + b, b / a
    return float(2.0 * np.sum(total + off - xlogy(s, total) - xlogy(bk, off)
                              + xlogy(s, s) - s + xlogy(bk, bk) - bk))


@dataclass
class Response:
    """What turns a photon spectrum into expected counts: model energy bins, the effective
    area times exposure, and the redistribution matrix."""

    energ_lo: np.ndarray
    energ_hi: np.ndarray
    arf_cm2: np.ndarray
    matrix: np.ndarray
    exposure_s: float
    mid: np.ndarray = field(init=False)
    width: np.ndarray = field(init=False)

    def __post_init__(self):
        self.mid = 0.5 * (self.energ_lo + self.energ_hi)
        self.width = self.energ_hi - self.energ_lo
        self._weights = self.arf_cm2 * self.width * self.exposure_s

    def fold(self, photon_spectrum) -> np.ndarray:
        """Expected counts per channel of a photon spectrum (photons cm^-2 s^-1 keV^-1 at
        the bins' mid energies; midpoint rule)."""
        return (np.asarray(photon_spectrum) * self._weights) @ self.matrix

    def grouped(self, factor: int) -> Response:
        """The response with every ``factor`` channels summed (fewer channels: faster fits;
        group the counts the same way with :func:`group`). A C-statistic fit to grouped
        counts stays unbiased."""
        return Response(self.energ_lo, self.energ_hi, self.arf_cm2,
                        group(self.matrix, factor), self.exposure_s)


def group(counts, factor: int) -> np.ndarray:
    """Sum every ``factor`` consecutive channels (last axis; a remainder is dropped)."""
    c = np.asarray(counts, float)
    n = c.shape[-1] // factor * factor
    return c[..., :n].reshape(*c.shape[:-1], -1, factor).sum(axis=-1)


#: Rest-frame energy (keV) of the iron K-alpha fluorescence line.
FE_KALPHA_KEV = reprocessing.FE_KALPHA_KEV


@dataclass
class AbsorbedPowerLaw:
    """The fitted model: ``K E^-Gamma [T(E; N_H, z) + f_scat] exp(-N_H,gal sigma(E))``
    photons cm^-2 s^-1 keV^-1 (K at 1 keV): the package's absorbed power law
    (:func:`xsurvey.instrument.spectral.photon_spectrum`) plus an unabsorbed scattered
    fraction ``f_scat`` of the same power law, plus a narrow Fe K-alpha line at 6.4 keV
    (rest frame, unresolved: the RMF gives its width) of equivalent width ``line_ew_kev``
    against the unabsorbed power law, seen through the Galactic column only (fluorescence
    of the surrounding gas, not of the line of sight). With the ``"reprocessed"`` absorber
    the absorber's own K-alpha and K-beta lines (their equivalent widths set by N_H and
    Gamma, :func:`xsurvey.instrument.spectral.fluorescence_lines`) come on top.

    Parameters are ``log_norm`` (log10 K), ``gamma``, ``log_nh`` (log10 cm^-2) and
    ``line_ew_kev`` (rest-frame keV; default the model's fixed ``line_ew_kev``).
    """

    response: Response
    redshift: float = 0.0
    nh_galactic_cm2: float = 0.0
    absorber: str = "sphere"
    scattered_fraction: float = 0.0
    line_ew_kev: float = 0.0

    def __post_init__(self):
        # what does not change during a fit: the photoelectric cross-sections at the bins'
        # rest-frame energies and the Galactic transmission (spectral.photon_spectrum)
        e = self.response.mid
        self._e_rest = e * (1.0 + self.redshift)
        self._sigma_rest = spectral.photoelectric_cross_section(self._e_rest)
        self._galactic = np.exp(-self.nh_galactic_cm2 * spectral.photoelectric_cross_section(e))
        self._log_e = np.log(e)
        self._reprocessed = (reprocessing.FixedEnergies(self._e_rest)
                             if self.absorber == "reprocessed" else None)

    def photons(self, log_norm: float, gamma: float, log_nh: float,
                line_ew_kev: float | None = None) -> np.ndarray:
        """:func:`xsurvey.instrument.spectral.photon_spectrum` (plus the scattered light
        and the line) at the bins' mid energies, photons cm^-2 s^-1 keV^-1."""
        power_law = np.exp(-gamma * self._log_e) * self._galactic
        nh = 10.0 ** log_nh
        if self._reprocessed is None:
            t = spectral.absorber_transmission(nh, nh * self._sigma_rest, self.absorber)
        else:
            t, (ew_ka, ew_kb) = self._reprocessed(nh, gamma, nh * self._sigma_rest)
        spectrum = power_law * t
        if self.scattered_fraction:
            spectrum = spectrum + self.scattered_fraction * power_law
        ew = self.line_ew_kev if line_ew_kev is None else line_ew_kev
        if ew:
            spectrum = spectrum + ew * self.line_profile(gamma)
        if self._reprocessed is not None:
            spectrum = (spectrum + ew_ka * self.line_profile(gamma)
                        + ew_kb * self.line_profile(gamma, reprocessing.FE_KBETA_KEV))
        return 10.0 ** log_norm * spectrum

    def line_profile(self, gamma: float, energy_kev: float = FE_KALPHA_KEV) -> np.ndarray:
        """Photons cm^-2 s^-1 keV^-1 (per unit K) of a line of rest-frame energy
        ``energy_kev`` (default Fe K-alpha) and equivalent width 1 keV: ``E_obs^-Gamma /
        (1 + z)`` photons in the model bin holding ``E_obs = energy_kev / (1 + z)``,
        Galactic absorption applied."""
        r = self.response
        e_obs = energy_kev / (1.0 + self.redshift)
        k = np.searchsorted(r.energ_hi, e_obs, side="right")
        out = np.zeros(r.mid.size)
        if 0 <= k < out.size and r.energ_lo[k] <= e_obs:
            galactic = spectral.photon_spectrum(np.array([e_obs]), 0.0, 0.0, 0.0,
                                                self.nh_galactic_cm2, "photoelectric")[0]
            out[k] = e_obs ** -gamma / (1.0 + self.redshift) * galactic / r.width[k]
        return out

    def counts(self, log_norm: float, gamma: float, log_nh: float,
               line_ew_kev: float | None = None) -> np.ndarray:
        """Expected counts per channel."""
        return self.response.fold(self.photons(log_norm, gamma, log_nh, line_ew_kev))


#: Parameter bounds of :class:`AbsorbedPowerLaw` fits (log10 N_H up to the sphere table).
BOUNDS = {"log_norm": (-12.0, 2.0), "gamma": (1.0, 3.0), "log_nh": (20.0, 24.7),
          "line_ew_kev": (0.0, 2.0)}


@dataclass
class FitResult:
    """Best fit, statistic and 90% profile-likelihood intervals (NaN when not computed;
    an interval that reaches a bound stops there)."""

    values: dict
    statistic: float
    lower: dict
    upper: dict
    free: tuple


class SpectralFit:
    """Maximum-likelihood fit of a model to a spectrum (C-stat, or W-stat with a background
    spectrum) and profile-likelihood intervals.

    Parameters
    ----------
    model : callable
        ``model(**params) -> expected source counts per channel``.
    counts : array_like
        Source-region counts per channel.
    background : array_like, optional
        Background-region counts per channel (W-statistic); None for the C-statistic.
    alpha : float
        Background-to-source-region scaling (exposure x BACKSCAL ratio).
    bounds : dict
        ``{name: (low, high)}`` of every parameter.
    """

    def __init__(self, model, counts, background=None, alpha: float = 1.0, bounds=None):
        self.model = model
        self.counts = np.asarray(counts, float)
        self.background = None if background is None else np.asarray(background, float)
        self.alpha = alpha
        self.bounds = dict(bounds or BOUNDS)

    def statistic(self, params: dict) -> float:
        m = np.clip(self.model(**params), 1e-300, None)
        if self.background is None:
            return cstat(self.counts, m)
        return wstat(self.counts, self.background, m, self.alpha)

    def _with_norm(self, params: dict) -> tuple[dict, float]:
        """``params`` with ``log_norm`` at its C-statistic optimum for the others
        (``K = sum(n) / sum(model at K = 1)``, exact for a model linear in K)."""
        shape = self.model(**{**params, "log_norm": 0.0})
        total = float(np.sum(shape))
        lo, hi = self.bounds["log_norm"]
        k = np.log10(max(self.counts.sum(), 1e-300) / total) if total > 0 else lo
        values = {**params, "log_norm": float(np.clip(k, lo, hi))}
        return values, cstat(self.counts, np.clip(10.0 ** values["log_norm"] * shape, 1e-300,
                                                  None))

    def _minimise(self, start: dict, free) -> tuple[dict, float]:
        """Minimise the statistic over ``free`` from ``start``. Without a background the
        normalisation ``log_norm`` is solved for exactly and the other parameters are
        searched numerically."""
        free = list(free)
        analytic = "log_norm" in free and self.background is None
        numeric = [k for k in free if not (analytic and k == "log_norm")]

        def evaluate(x) -> tuple[dict, float]:
            values = {**start, **dict(zip(numeric, np.atleast_1d(x).tolist(), strict=True))}
            return self._with_norm(values) if analytic else (values, self.statistic(values))

        if not numeric:
            return evaluate([])
        bounds = [self.bounds[k] for k in numeric]
        if len(numeric) == 1:
            res = minimize_scalar(lambda x: evaluate([x])[1], bounds=bounds[0],
                                  method="bounded", options={"xatol": 1e-4})
            return evaluate([res.x])
        low, high = np.array(bounds, float).T

        def f(x):
            return evaluate(np.clip(x, low, high))[1]

        res = minimize(f, [start[k] for k in numeric], method="Nelder-Mead",
                       options={"xatol": 1e-4, "fatol": 1e-5, "maxiter": 4000})
        polished = minimize(f, res.x, method="L-BFGS-B", bounds=bounds)
        best = polished if polished.fun < res.fun else res
        return evaluate(np.clip(best.x, low, high))

    def fit(self, start: dict, free, intervals=()) -> FitResult:
        """Best fit from ``start`` over the ``free`` parameters (the others stay fixed), and
        the 90% intervals of the ``intervals`` parameters."""
        values, stat = self._minimise(start, free)
        lower, upper = {}, {}
        for name in intervals:
            lower[name], upper[name] = self.interval(values, stat, name, free)
        return FitResult(values, stat, lower, upper, tuple(free))

    def interval(self, best: dict, stat_min: float, name: str, free,
                 delta: float = DELTA_90) -> tuple[float, float]:
        """The profile-likelihood interval of one parameter: where the statistic, minimised
        over the other free parameters, rises by ``delta`` above its minimum."""
        others = [k for k in free if k != name]
        lo_bound, hi_bound = self.bounds[name]

        def excess(x):
            _, s = self._minimise({**best, name: x}, others)
            return s - stat_min - delta

        out = []
        for bound, sign in ((lo_bound, -1.0), (hi_bound, 1.0)):
            step, x0 = 0.05 * (hi_bound - lo_bound), best[name]
            x, inside = x0, x0
            while True:
                x = float(np.clip(x0 + sign * step, lo_bound, hi_bound))
                if excess(x) > 0:
                    out.append(brentq(excess, min(inside, x), max(inside, x), xtol=1e-3))
                    break
                if x == bound:
                    out.append(bound)
                    break
                inside, step = x, 2.0 * step
        return out[0], out[1]


#: Starting log10 N_H (cm^-2) of the fixed-index fits: the statistic can have a minimum at
#: low and one at high column density.
NH_STARTS = (21.0, 22.5, 23.5, 24.2)


#: Rest-frame bands (keV) of the intrinsic luminosities.
LUMINOSITY_BANDS = {"2_10": (2.0, 10.0), "10_40": (10.0, 40.0)}


def fit_columns(band_suffix: str) -> list[str]:
    """Columns of the table of spectral fits (``fits.csv``), in order; ``band_suffix`` names
    the flux column (e.g. ``3_24``)."""
    return ["id", "name", "redshift", "net_counts", "stage", "statistic", "n_channels",
            "log_norm", "gamma", "gamma_lo", "gamma_hi", "log_nh", "log_nh_lo", "log_nh_hi",
            "log_nh_obs", "line_ew_kev", "line_ew_kev_lo", "line_ew_kev_hi",
            f"flux_{band_suffix}", *(f"log_lum_{b}" for b in LUMINOSITY_BANDS)]


def intrinsic_luminosity(log_norm: float, gamma: float, redshift: float,
                         band_kev: tuple) -> float:
    """Intrinsic (unabsorbed) rest-frame luminosity (erg s^-1) in ``band_kev`` of the power
    law ``10^log_norm E^-gamma`` (observed frame, photons cm^-2 s^-1 keV^-1): the observed
    flux in ``band / (1 + z)`` times 4 pi D_L^2 (Planck 2018 cosmology). NaN for z <= 0."""
    if not np.isfinite(redshift) or redshift <= 0:
        return float("nan")
    lo, hi = (e / (1.0 + redshift) for e in band_kev)
    flux, _ = spectral.fold([(lo, hi)], gamma)
    d_l = Planck18.luminosity_distance(redshift).to_value(u.cm)
    return float(10.0 ** log_norm * flux[0] * 4.0 * np.pi * d_l**2)


#: Starting equivalent width (keV) of a fitted 6.4 keV line.
LINE_START_KEV = 0.1


def staged_fit(fitter: SpectralFit, net_counts: float, settings: dict,
               intervals: bool = True) -> tuple[str, FitResult]:
    """The staged fit of method.md §15.

    The photon index fixed at ``settings["gamma_fixed"]`` (N_H and the normalisation free,
    from each of :data:`NH_STARTS`); from ``settings["free_gamma_counts"]`` net counts the
    index free too, started from the fixed-index fit; from ``settings["free_line_counts"]``
    (if given) net counts also the equivalent width of the 6.4 keV line (below it the line
    keeps the model's fixed ``line_ew_kev``). ``settings`` is the ``spectra`` configuration.
    Returns the stage used (``gamma_fixed``, ``gamma_free``, ``gamma_free_line``) and its
    result, with 90% intervals of the free parameters but the normalisation unless
    ``intervals`` is False (best fit only, e.g. for the simulated spectra of the
    obscuration forward model).
    """
    start = {"log_norm": -4.0, "gamma": settings["gamma_fixed"], "log_nh": 22.0}
    best = None
    for log_nh in NH_STARTS:
        trial = fitter.fit({**start, "log_nh": log_nh}, ("log_norm", "log_nh"))
        if best is None or trial.statistic < best.statistic:
            best = trial
    if net_counts < settings["free_gamma_counts"]:
        stage, free = "gamma_fixed", ("log_norm", "log_nh")
    elif net_counts < settings.get("free_line_counts", np.inf):
        stage, free = "gamma_free", ("log_norm", "gamma", "log_nh")
    else:
        stage, free = "gamma_free_line", ("log_norm", "gamma", "log_nh", "line_ew_kev")
    values = dict(best.values)
    if "line_ew_kev" in free:
        values["line_ew_kev"] = LINE_START_KEV
    return stage, fitter.fit(values, free, intervals=free[1:] if intervals else ())
