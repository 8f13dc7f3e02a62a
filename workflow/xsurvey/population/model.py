"""The X-ray source population of the demo sky and of the replicas (method.md §7.1).

A population is what a simulated sky is drawn from: uniform positions, a
Poisson number of sources, and for each source an intrinsic spectrum and a
normalisation.

* Spectra (:class:`SpectralDistribution`): photon index ~ N(mean, sigma),
  log N_H uniform within bins of given probabilities, redshift lognormal;
  absorbed by the instrument's absorber (:func:`xsurvey.instrument.photon_spectrum`).
* Normalisation: the *intrinsic* (unabsorbed) energy flux in a counts band
  (default 2-10 keV), drawn from intrinsic number counts. These are derived
  from *observed* number counts in that band (default Moretti et al. 2003)
  by deconvolution (:func:`deconvolve_counts`): absorption moves sources to
  fainter observed fluxes, so the intrinsic counts are those whose
  absorbed fluxes reproduce the observed counts exactly. Drawing observed
  fluxes directly and attaching spectra afterwards would give a
  Compton-thick source the observed 2-10 keV flux of an unobscured one and
  a tenfold 8-24 keV flux.

Per band, the observed counts N_b(>S) and intensities of the population
follow from the counts band by mixing over the spectra
(:meth:`Population.band_counts`, :meth:`Population.intensity`); they are
checked against published NuSTAR counts and the CXB in the tests and
``docs/method.md``.

``mode: paper`` keeps the seed papers' simulations reproducible: one
spectrum (the instrument's photon index, no intrinsic absorption) and the
configured counts taken as observed counts in their band.

Units: fluxes in erg cm^-2 s^-1, surface densities in deg^-2, intensities in
erg cm^-2 s^-1 deg^-2, column densities in cm^-2, energies in keV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xsurvey.instrument import spectral
from xsurvey.instrument.core import elementary_bands
from xsurvey.population.counts import TABLE_FLUX_RANGE, CountsModel, counts_model_from_config

#: Population modes: own spectra per source, or one spectrum (the seed papers').
MODES = ("realistic", "paper")


#: Spectra drawn (fixed seed) to mix the counts over the spectral distribution.
SAMPLE_SIZE = 20_000


SAMPLE_SEED = 20030301


#: Step (dex) of the flux grid of the counts mixing.
LOG_STEP = 0.002


#: Ranges of the spectral parameters (the nodes of :class:`xsurvey.instrument.SpectralGrid`).
PHOTON_INDEX_RANGE = (float(spectral.GRID_PHOTON_INDEX[0]), float(spectral.GRID_PHOTON_INDEX[-1]))


LOG_NH_RANGE = (float(spectral.GRID_LOG_NH[0]), float(spectral.GRID_LOG_NH[-1]))


REDSHIFT_MAX = float(spectral.GRID_REDSHIFT[-1])


def powerlaw_energy_flux(photon_index, e_lo: float, e_hi: float):
    """Energy flux (erg cm^-2 s^-1) of ``E^-Gamma`` photons cm^-2 s^-1 keV^-1 in a band.

    ``integral E^(1-Gamma) dE`` in closed form (``ln(e_hi/e_lo)`` at Gamma = 2).
    """
    g = np.asarray(photon_index, dtype=float)
    a = 2.0 - g
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(np.abs(a) > 1e-9, (e_hi ** a - e_lo ** a) / a, np.log(e_hi / e_lo))
    return value * spectral.KEV_TO_ERG


@dataclass(frozen=True)
class SpectralDistribution:
    """Distribution of intrinsic spectra (photon index, column density, redshift).

    Attributes
    ----------
    photon_index_mean, photon_index_sigma : float
        Normal distribution of Gamma (clipped to :data:`PHOTON_INDEX_RANGE`).
    log_nh_edges : tuple of float
        Edges of the log10 N_H (cm^-2) bins, increasing.
    log_nh_fractions : tuple of float
        Probability of each bin (sum 1); log N_H is uniform within a bin.
    redshift_median, redshift_sigma_ln : float
        Lognormal redshift: ``median * exp(sigma_ln * N(0, 1))``.
    """

    photon_index_mean: float
    photon_index_sigma: float
    log_nh_edges: tuple
    log_nh_fractions: tuple
    redshift_median: float
    redshift_sigma_ln: float

    def draw(self, rng, n: int):
        """Draw ``n`` spectra: ``(photon_index, nh_cm2, redshift)`` arrays.

        Draw order on ``rng``: n normal deviates (Gamma), n bin choices, n
        uniforms (log N_H within the bin), n normal deviates (redshift).
        """
        gamma = np.clip(rng.normal(self.photon_index_mean, self.photon_index_sigma, n),
                        *PHOTON_INDEX_RANGE)
        edges = np.asarray(self.log_nh_edges, dtype=float)
        fractions = np.asarray(self.log_nh_fractions, dtype=float)
        k = rng.choice(fractions.size, size=n, p=fractions / fractions.sum())
        log_nh = edges[k] + rng.random(n) * (edges[k + 1] - edges[k])
        z = self.redshift_median * np.exp(self.redshift_sigma_ln * rng.standard_normal(n))
        return gamma, 10.0 ** log_nh, z

    def draw_redshifts(self, rng, n: int) -> np.ndarray:
        """Redshifts alone (e.g. of unrelated optical galaxies)."""
        return self.redshift_median * np.exp(self.redshift_sigma_ln * rng.standard_normal(n))


def _kernel(log_ratio, step: float):
    """Mixing kernel of log10 flux ratios on a grid of ``step`` dex.

    Each ratio is split between its two neighbouring grid shifts with linear
    weights; returns ``(k_min, weights)`` with ``weights[k - k_min]`` the
    mean weight of the shift by ``k`` steps.
    """
    k = np.asarray(log_ratio, dtype=float) / step
    k0 = np.floor(k).astype(np.int64)
    frac = k - k0
    k_min, k_max = int(k0.min()), int(k0.max()) + 1
    weights = (np.bincount(k0 - k_min, 1.0 - frac, k_max - k_min + 1)
               + np.bincount(k0 + 1 - k_min, frac, k_max - k_min + 1))
    return k_min, weights / k.size


def _extrapolated(log_s, n, left: int, right: int):
    """``n`` on the grid padded by power-law continuations of its end segments."""
    ln = np.log(n)
    lo_slope, hi_slope = ln[1] - ln[0], ln[-1] - ln[-2]
    pad_lo = np.exp(ln[0] + lo_slope * np.arange(-left, 0)) if left else np.zeros(0)
    pad_hi = np.exp(ln[-1] + hi_slope * np.arange(1, right + 1)) if right else np.zeros(0)
    return np.concatenate([pad_lo, n, pad_hi])


def mix_counts(log_s, n_gt_s, log_ratio, step: float = LOG_STEP):
    """Counts of fluxes multiplied by random ratios: ``mean_i N(>S / R_i)``.

    Written by hand (a discrete convolution in log flux): no library mixes
    number counts over a spectral distribution.

    Parameters
    ----------
    log_s : numpy.ndarray
        log10 flux grid, equally spaced by ``step``.
    n_gt_s : numpy.ndarray
        N(>S) on the grid (positive); continued as power laws beyond it.
    log_ratio : array_like
        log10 of the ratios R_i (e.g. absorbed / intrinsic flux), a sample.

    Returns
    -------
    numpy.ndarray
        The mixed N(>S) on the same grid.
    """
    k_min, w = _kernel(log_ratio, step)
    k_max = k_min + w.size - 1
    left, right = max(k_max, 0), max(-k_min, 0)
    padded = _extrapolated(log_s, np.asarray(n_gt_s, dtype=float), left, right)
    full = np.convolve(padded, w)
    j = np.arange(log_s.size)
    return full[j + left - k_min]


def deconvolve_counts(log_s, observed, log_ratio, step: float = LOG_STEP, tol: float = 1e-3,
                      max_iter: int = 200):
    """Intrinsic counts whose mixture over the ratios reproduces the observed counts.

    Solves ``mix_counts(N_int) = N_obs`` by the multiplicative iteration
    ``N_int <- N_int N_obs / mix_counts(N_int)`` (exact in one step for a
    power law, whose mixture is ``N mean(R^alpha)``). Like any
    deconvolution it amplifies fine structure (the kinks of a tabulated
    N(>S)) once the smooth part has converged, so the iterate with the
    smallest residual is kept. Written by hand, as :func:`mix_counts`.

    Returns
    -------
    numpy.ndarray
        N_int(>S) on ``log_s``; ``mix_counts`` of it matches ``observed`` to
        ``tol`` (relative).

    Raises
    ------
    RuntimeError
        When no iterate reaches ``tol``.
    """
    observed = np.asarray(observed, dtype=float)
    n_int = observed.copy()
    best, best_err, stale = n_int, np.inf, 0
    for _ in range(max_iter):
        ratio = observed / mix_counts(log_s, n_int, log_ratio, step)
        err = float(np.max(np.abs(ratio - 1.0)))
        if err < best_err:
            best, best_err, stale = n_int, err, 0
        else:
            stale += 1
        if best_err < 1e-7 or stale >= 5:
            break
        n_int = n_int * ratio
    if not best_err < tol:
        raise RuntimeError(f"counts deconvolution reached a relative residual of "
                           f"{best_err:.2g}, not {tol:g}: are the counts smooth and monotonic?")
    return best


class Population:
    """Sources of a simulated sky (see the module docstring).

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
        Bands, absorber, Galactic column, effective area.
    counts : xsurvey.population.CountsModel
        *Observed* cumulative counts N(>S), deg^-2, in ``counts_band_kev``.
    counts_band_kev : (float, float)
        Band of the counts and of the intrinsic fluxes.
    spectra : SpectralDistribution or None
        None: one spectrum (``mode: paper``), the instrument's photon index
        without intrinsic absorption.
    flux_min, flux_max : float
        Range of the drawn intrinsic fluxes (counts band), erg cm^-2 s^-1.
    grid : xsurvey.instrument.SpectralGrid, optional
        Precomputed table of the instrument bands and the counts band
        (:meth:`grid_bands`); default: built here (a few seconds).
    """

    def __init__(self, instrument, counts: CountsModel, counts_band_kev, spectra, flux_min,
                 flux_max, grid=None):
        self.instrument = instrument
        self.counts_observed = counts
        self.counts_band_kev = tuple(float(e) for e in counts_band_kev)
        self.spectra = spectra
        self.flux_min, self.flux_max = float(flux_min), float(flux_max)
        self.bands = list(instrument.bands)
        edges = self.grid_bands(instrument, self.counts_band_kev)[:-1]
        if grid is None:
            grid = spectral.SpectralGrid(edges + [self.counts_band_kev], instrument.absorber,
                                         instrument.nh_galactic_cm2, instrument.effective_area)
        elif not np.allclose(grid.bands_kev, edges + [self.counts_band_kev]):
            raise ValueError(f"spectral grid of bands {grid.bands_kev} does not match the "
                             f"population's bands {edges + [self.counts_band_kev]}")
        self.grid = grid
        sample = self.draw_spectra(np.random.default_rng(SAMPLE_SEED), SAMPLE_SIZE)
        flux_ratio, rate_ratio = self.conversions(*sample)
        self._log_ratio = np.log10(np.maximum(flux_ratio, np.finfo(float).tiny))
        self._log_rate = np.log10(np.maximum(rate_ratio, np.finfo(float).tiny))
        lo = min(self.flux_min, TABLE_FLUX_RANGE[0] * 1e4) / 1e4
        self._log_s = np.arange(np.log10(lo), np.log10(max(self.flux_max, 1e-7)) + LOG_STEP,
                                LOG_STEP)
        observed = counts.n_gt_s(10.0 ** self._log_s)
        self._n_int = deconvolve_counts(self._log_s, observed, self._log_ratio[:, -1])
        self.intrinsic = _GridCounts(self._log_s, self._n_int, self.flux_min, self.flux_max)
        self._tables = {}

    @staticmethod
    def grid_bands(instrument, counts_band_kev) -> list:
        """Bands (keV) of the population's :class:`xsurvey.instrument.SpectralGrid`.

        The instrument's bands, then its elementary intervals that are not
        bands (:func:`xsurvey.instrument.elementary_bands`), then the counts band.
        """
        edges = [(instrument.band(b).e_lo_kev, instrument.band(b).e_hi_kev)
                 for b in instrument.bands]
        extra = [(e.e_lo_kev, e.e_hi_kev) for e in elementary_bands(instrument)[0]
                 if (e.e_lo_kev, e.e_hi_kev) not in edges]
        return edges + extra + [tuple(float(e) for e in counts_band_kev)]

    def columns_of(self, e_lo: float, e_hi: float) -> list:
        """Columns of :meth:`conversions` whose sum is the interval [e_lo, e_hi] keV.

        The interval itself if it is an instrument band, else the elementary
        intervals it contains (it must be a union of them).
        """
        cols = self.grid.bands_kev[:-1]
        if (e_lo, e_hi) in cols:
            return [cols.index((e_lo, e_hi))]
        elements = [k for k, (lo, hi) in enumerate(cols) if e_lo <= lo and hi <= e_hi
                    and not any(lo <= a and b <= hi and (a, b) != (lo, hi) for a, b in cols)]
        if not np.isclose(sum(cols[k][1] - cols[k][0] for k in elements), e_hi - e_lo):
            raise ValueError(f"interval {e_lo:g}-{e_hi:g} keV is not a union of the "
                             f"instrument's elementary intervals")
        return elements

    @property
    def mode(self) -> str:
        """``"realistic"`` or ``"paper"``."""
        return "paper" if self.spectra is None else "realistic"

    # ------------------------------------------------------------------ draws
    def draw_spectra(self, rng, n: int):
        """``(photon_index, nh_cm2, redshift)`` of ``n`` sources (:class:`SpectralDistribution`)."""
        if self.spectra is None:
            return (np.full(n, self.instrument.photon_index), np.zeros(n), np.zeros(n))
        return self.spectra.draw(rng, n)

    def expected_number(self, area_deg2) -> float:
        """Mean number of drawn sources over ``area_deg2``."""
        return float(self.intrinsic.expected_number(area_deg2))

    def conversions(self, photon_index, nh_cm2, redshift):
        """Observed band fluxes and count rates per unit intrinsic flux.

        Parameters
        ----------
        photon_index, nh_cm2, redshift : array_like
            Spectra of the sources.

        Returns
        -------
        flux_ratio : numpy.ndarray
            ``(n, n_columns)``: observed energy flux in each instrument band
            (:attr:`bands` order), in the instrument's elementary intervals
            that are not bands, and, last, in the counts band
            (:meth:`grid_bands`), per unit intrinsic (unabsorbed) counts-band
            flux.
        rate_ratio : numpy.ndarray
            ``(n, n_columns)``: count rate of one module on axis (ct s^-1)
            per unit intrinsic flux (erg cm^-2 s^-1).
        """
        gamma = np.atleast_1d(np.asarray(photon_index, dtype=float))
        flux, rate = self.grid(gamma, nh_cm2, redshift)
        unit = powerlaw_energy_flux(gamma, *self.counts_band_kev)[:, None]
        return flux / unit, rate / unit

    # ------------------------------------------------------------------ model counts
    def band_index(self, band) -> int:
        """Column of ``band`` in :meth:`conversions` (a band name, or ``"counts"``)."""
        return len(self.grid.bands_kev) - 1 if band == "counts" else self.bands.index(band)

    def _band_table(self, band, drawn: bool):
        key = (band, drawn)
        if key in self._tables:
            return self._tables[key]
        n_int = self._n_int
        if drawn:           # only the drawn range of intrinsic fluxes
            s = 10.0 ** self._log_s
            n_int = np.where(s < self.flux_max,
                             self.intrinsic.n_gt_s(np.clip(s, self.flux_min, self.flux_max))
                             - self.intrinsic.n_gt_s(self.flux_max), 0.0)
            n_int = np.maximum(n_int, 0.0)
        self._tables[key] = mix_counts(self._log_s, np.maximum(n_int, 1e-300),
                                       self._log_ratio[:, self.band_index(band)])
        return self._tables[key]

    def band_counts(self, band, drawn: bool = False):
        """Observed N(>S), deg^-2, in ``band`` (a function of flux).

        Parameters
        ----------
        band : str
            Instrument band, or ``"counts"`` for the counts band.
        drawn : bool
            False: the whole population (compare with published counts);
            True: only the sources drawn into a simulated sky (intrinsic flux
            between ``flux_min`` and ``flux_max``), e.g. the input of the
            replicas.
        """
        table = self._band_table(band, bool(drawn))
        log_s = self._log_s

        def n_gt_s(flux):
            x = np.log10(np.asarray(flux, dtype=float))
            with np.errstate(divide="ignore"):
                y = np.interp(x, log_s, np.log(np.maximum(table, 1e-300)))
            return np.where(np.exp(y) > 1e-290, np.exp(y), 0.0)

        return n_gt_s

    def intensity(self, band, drawn: bool = False) -> float:
        """Summed flux of the sources in ``band``, erg cm^-2 s^-1 deg^-2.

        ``mean(R_b) x intensity of the intrinsic counts``: over the drawn
        range (``drawn``), or over all fluxes up to ``flux_max`` (the
        population's contribution to the X-ray background).
        """
        lo = self.flux_min if drawn else 10.0 ** self._log_s[0]
        mean_ratio = float(np.mean(10.0 ** self._log_ratio[:, self.band_index(band)]))
        return mean_ratio * self.intrinsic.intensity(lo, self.flux_max)

    def rate_density(self, columns, ref_flux_max=None) -> np.ndarray:
        """Mean count rate per deg^2 of the drawn sources, per :meth:`conversions` column.

        ``E[S_int C_k]`` over the spectra times the intrinsic counts, for the
        sources whose reference-band flux is below ``ref_flux_max`` (all when
        None): ``mean_i C_k,i I_int(flux_min, min(flux_max, ref_flux_max /
        R_ref,i))`` with ``I_int`` the intensity of the intrinsic counts.

        Returns
        -------
        numpy.ndarray
            ct s^-1 deg^-2 (one module on axis), one value per column.
        """
        s = 10.0 ** self._log_s
        inside = (s >= self.flux_min) & (s <= self.flux_max)
        s_in = s[inside]
        dn = -np.diff(self.intrinsic.n_gt_s(s_in))                 # sources per flux step
        cum = np.concatenate([[0.0], np.cumsum(dn * np.sqrt(s_in[:-1] * s_in[1:]))])
        rate = 10.0 ** self._log_rate[:, columns]
        if ref_flux_max is None:
            upper = np.full(rate.shape[0], cum[-1])
        else:
            lim = ref_flux_max / 10.0 ** self._log_ratio[:, self.band_index(
                self.instrument.reference_band)]
            upper = np.interp(np.log10(lim), np.log10(s_in), cum)
        return (rate * upper[:, None]).mean(axis=0)

    def labels(self) -> list:
        """Band names of the tables: the instrument bands, then the counts band."""
        lo, hi = self.counts_band_kev
        return [*self.bands, f"{lo:g}-{hi:g}"]

    def counts_table(self, fluxes=None):
        """Observed N(>S) per band on a flux grid (:meth:`band_counts`).

        Returns
        -------
        pandas.DataFrame
            ``band, flux`` (erg cm^-2 s^-1), ``n_gt_s`` (whole population) and
            ``n_gt_s_drawn`` (drawn sources), deg^-2. The counts band is labelled
            by its edges (e.g. ``2-10``).
        """

        fluxes = np.geomspace(1e-16, 1e-11, 51) if fluxes is None else np.asarray(fluxes, float)
        frames = []
        for label, band in zip(self.labels(), [*self.bands, "counts"], strict=True):
            frames.append(pd.DataFrame({
                "band": label, "flux": fluxes, "n_gt_s": self.band_counts(band)(fluxes),
                "n_gt_s_drawn": self.band_counts(band, drawn=True)(fluxes)}))
        return pd.concat(frames, ignore_index=True)

    def intensity_table(self):
        """Summed flux per band of the whole population and of the drawn sources.

        Returns
        -------
        pandas.DataFrame
            ``band, e_lo_kev, e_hi_kev, intensity, intensity_drawn``
            (erg cm^-2 s^-1 deg^-2).
        """

        edges = [*self.grid.bands_kev[:len(self.bands)], self.counts_band_kev]
        return pd.DataFrame({
            "band": self.labels(), "e_lo_kev": [e[0] for e in edges],
            "e_hi_kev": [e[1] for e in edges],
            "intensity": [self.intensity(b) for b in [*self.bands, "counts"]],
            "intensity_drawn": [self.intensity(b, True) for b in [*self.bands, "counts"]]})

    def __repr__(self):
        return (f"Population(mode={self.mode}, counts={self.counts_observed!r} in "
                f"{self.counts_band_kev} keV, flux {self.flux_min:g}-{self.flux_max:g})")


class _GridCounts(CountsModel):
    """Intrinsic counts tabulated on the population's log flux grid."""

    def __init__(self, log_s, n_gt_s, flux_min, flux_max):
        super().__init__(flux_min, flux_max)
        self._log_s = np.asarray(log_s, dtype=float)
        self._ln_n = np.log(np.asarray(n_gt_s, dtype=float))

    def n_gt_s(self, flux):
        return np.exp(np.interp(np.log10(np.asarray(flux, dtype=float)), self._log_s,
                                self._ln_n))

    def _flux_at(self, n_gt_s):
        x = np.log(np.asarray(n_gt_s, dtype=float))
        return 10.0 ** np.interp(x, self._ln_n[::-1], self._log_s[::-1])


# --------------------------------------------------------------------------- configuration
def _number(cfg, key, where, lo=-np.inf, hi=np.inf, lo_open=False):
    if not isinstance(cfg, dict) or key not in cfg:
        raise ValueError(f"{where}: missing required key '{key}'")
    try:
        v = float(cfg[key])
    except (TypeError, ValueError):
        raise ValueError(f"{where}.{key}: expected a number, got {cfg[key]!r}") from None
    if not (lo < v if lo_open else lo <= v) or not v <= hi:
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise ValueError(f"{where}.{key} = {v:g} is out of range {rng}")
    return v


def spectra_from_config(cfg: dict, where: str = "population") -> SpectralDistribution:
    """:class:`SpectralDistribution` from ``photon_index``, ``log_nh``, ``redshift`` keys."""
    g = cfg.get("photon_index")
    n = cfg.get("log_nh")
    z = cfg.get("redshift")
    for key, value in (("photon_index", g), ("log_nh", n), ("redshift", z)):
        if not isinstance(value, dict):
            raise ValueError(f"{where}.{key}: expected a mapping, got {value!r}")
    mean = _number(g, "mean", f"{where}.photon_index", *PHOTON_INDEX_RANGE)
    sigma = _number(g, "sigma", f"{where}.photon_index", 0.0, 1.0)
    try:
        edges = np.asarray(n.get("edges"), dtype=float)
        fractions = np.asarray(n.get("fractions"), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where}.log_nh: edges and fractions must be lists of numbers") \
            from None
    if edges.ndim != 1 or edges.size != fractions.size + 1 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"{where}.log_nh: need strictly increasing edges, one more than the "
                         f"fractions; got edges={edges.tolist()} fractions={fractions.tolist()}")
    if edges[0] < LOG_NH_RANGE[0] or edges[-1] > LOG_NH_RANGE[1]:
        raise ValueError(f"{where}.log_nh.edges {edges.tolist()} leave the tabulated range "
                         f"[{LOG_NH_RANGE[0]:g}, {LOG_NH_RANGE[1]:g}] (log10 cm^-2; the sphere "
                         "absorber is tabulated up to Thomson depth 5)")
    if np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0, atol=1e-3):
        raise ValueError(f"{where}.log_nh.fractions must be >= 0 and sum to 1, got "
                         f"{fractions.tolist()}")
    median = _number(z, "median", f"{where}.redshift", 0.0, REDSHIFT_MAX, lo_open=True)
    sigma_ln = _number(z, "sigma_ln", f"{where}.redshift", 0.0, 2.0)
    return SpectralDistribution(mean, sigma, tuple(edges), tuple(fractions), median, sigma_ln)


def population_from_config(cfg: dict, instrument, base_dir=None, where: str = "population",
                           grid=None) -> Population:
    """Build a :class:`Population` from the ``population`` configuration section.

    Parameters
    ----------
    cfg : dict
        ``mode`` (:data:`MODES`), ``counts`` (``band_kev`` and a counts model
        of :func:`xsurvey.population.counts_model_from_config`: a shape with its
        parameters, or ``table: path``), ``flux_min``, ``flux_max`` (the drawn
        intrinsic flux range in the counts band) and, in ``realistic`` mode,
        ``photon_index: {mean, sigma}``, ``log_nh: {edges, fractions}``,
        ``redshift: {median, sigma_ln}``.
    instrument : xsurvey.instrument.Instrument
    base_dir : path-like, optional
        Directory of relative table paths.
    where : str
        Name of the section in messages.
    grid : xsurvey.instrument.SpectralGrid or path, optional
        Precomputed spectral table (:meth:`Population.grid_bands`), e.g. the
        ``population`` rule's ``grid.npz``.

    Raises
    ------
    ValueError
        Naming the key (or the file and line of a counts table) that is
        missing, malformed or out of range.
    """
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(cfg).__name__}")
    mode = cfg.get("mode", "realistic")
    if mode not in MODES:
        raise ValueError(f"{where}.mode: unknown mode {mode!r}; expected one of {MODES}")
    flux_min = _number(cfg, "flux_min", where, *TABLE_FLUX_RANGE)
    flux_max = _number(cfg, "flux_max", where, *TABLE_FLUX_RANGE)
    if not flux_min < flux_max:
        raise ValueError(f"{where}: flux_min ({flux_min:g}) must be below flux_max "
                         f"({flux_max:g})")
    counts_cfg = cfg.get("counts")
    if not isinstance(counts_cfg, dict):
        raise ValueError(f"{where}.counts: expected a mapping, got {counts_cfg!r}")
    band = counts_cfg.get("band_kev")
    try:
        band = tuple(float(e) for e in band)
    except TypeError:
        band = ()
    if len(band) != 2 or not 0 < band[0] < band[1]:
        raise ValueError(f"{where}.counts.band_kev: expected [e_lo, e_hi] keV with "
                         f"0 < e_lo < e_hi, got {counts_cfg.get('band_kev')!r}")
    model_cfg = {k: v for k, v in counts_cfg.items() if k != "band_kev"}
    model_cfg.setdefault("flux_min", flux_min)
    model_cfg.setdefault("flux_max", flux_max)
    counts = counts_model_from_config(model_cfg, base_dir, where=f"{where}.counts")
    spectra = spectra_from_config(cfg, where) if mode == "realistic" else None
    if grid is not None and not isinstance(grid, spectral.SpectralGrid):
        grid = spectral.SpectralGrid.load(grid, Population.grid_bands(instrument, band))
    return Population(instrument, counts, band, spectra, flux_min, flux_max, grid)
