"""Simulated replicas of a survey stack (METHOD §7).

Each replica is an independent mock sky observed with the stack's real
exposure and background, **one sky for all bands**: its sources are drawn
from the source population (:mod:`xsurvey.population`; each with its own
spectrum), their counts are drawn in the *elementary* energy intervals cut
by the band edges (NuSTAR 3-8, 8-16, 16-24 keV) together with the smooth
background of each interval, and the composite bands (8-24, 3-24 keV) are
the sums of their intervals' images, exactly as real events are binned.
Every band is then analysed with the detection, deblending and photometry
code used on the real data (:class:`xsurvey.detect.Detector`) and its
detections are matched to the inputs (:func:`match_sources`).

A replica's random stream comes from (global seed, stack, replica index)
only, so a replica is the same sky whatever the chunking, the bands
processed, or the job that runs it.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy.spatial import cKDTree

from .detect import Detector
from .instrument import band_suffix, elementary_bands

log = logging.getLogger(__name__)

#: Per-band columns of the detection table, from :meth:`xsurvey.detect.Detector.detect_arrays`.
MEASURED_COLUMNS = ("ra", "dec", "det_ml", "det_ml_raw", "exposure_ks", "counts", "bkg",
                    "bkg_deblended", "net", "rate", "flux", "snr")
#: Columns of the replica detection table (see :func:`run_replica`).
DETECTION_COLUMNS = ("band", "replica", *MEASURED_COLUMNS, "input_id", "input_flux",
                     "input_flux_ref", "separation_arcsec", "input_share")
#: Source columns of the replica input table; per band ``<name>_<band suffix>`` follow.
INPUT_COLUMNS = ("replica", "input_id", "ra", "dec", "flux_int", "flux_ref", "photon_index",
                 "nh", "redshift")
#: Per-band columns of the replica input table.
INPUT_BAND_COLUMNS = ("flux", "exposure_ks", "matched", "det_ml", "det_exposure_ks")
#: Truth rules of :func:`match_sources`.
TRUTH_RULES = ("flux", "position")


def replica_seed(seed: int, stack: str, index: int, purpose: str = "") -> np.random.SeedSequence:
    """Seed of one replica from its identity (stable across processes and chunkings).

    The band is not part of it: all bands of a replica share its sky.
    ``purpose`` separates other simulations of the same replica index (e.g.
    the per-epoch replicas of the variability test).
    """
    return np.random.SeedSequence([int(seed), zlib.crc32(stack.encode()),
                                   zlib.crc32(purpose.encode()), int(index)])


class PoissonField:
    """Poisson realisations of a fixed map of expected counts, by inversion.

    Every replica draws the same smooth background map again. Pixels with a
    mean up to ``max_inversion_mean`` are drawn by inversion of the Poisson
    CDF with one uniform deviate per pixel: the CDF at 0 .. ``table_terms``-1
    counts is tabulated once, so most pixels (at 0.65 counts per pixel, 97%)
    take only comparisons; the few above the table continue the CDF term by
    term (one compiled pass, :func:`_add_inverted`). This is exact (the CDF
    in float64) and several times faster than ``Generator.poisson`` on such
    maps. Brighter pixels use
    ``Generator.poisson``. Written by hand: numpy has no Poisson sampler with
    precomputation for a fixed map.

    Parameters
    ----------
    mean : numpy.ndarray
        Expected counts per pixel (>= 0; zero pixels stay 0).
    max_inversion_mean : float
        Largest mean drawn by inversion.
    table_terms : int
        Number of tabulated CDF values per pixel (memory: 8 bytes each).
    """

    def __init__(self, mean, max_inversion_mean: float = 8.0, table_terms: int = 3):
        flat = np.asarray(mean, dtype=np.float64).ravel()
        self._small = np.flatnonzero((flat > 0) & (flat <= max_inversion_mean))
        self._mean = flat[self._small]
        term = np.exp(-self._mean)                       # P(0)
        cdf = term.copy()
        self._cdf = np.empty((int(table_terms), self._small.size))
        for k in range(int(table_terms)):
            self._cdf[k] = cdf
            term *= self._mean / (k + 1)
            cdf += term
        self._large = np.flatnonzero(flat > max_inversion_mean)
        self._mean_large = flat[self._large]

    def add_to(self, counts, rng: np.random.Generator):
        """Add one Poisson realisation to the integer map ``counts`` in place; returns it."""
        flat = counts.reshape(-1)
        _add_inverted(flat, self._small, self._cdf, self._mean, rng.random(self._small.size))
        if self._large.size:
            flat[self._large] += rng.poisson(self._mean_large)
        return counts


@njit(cache=True)
def _add_inverted(flat, pixels, cdf, mean, u):  # pragma: no cover (compiled)
    """Add to ``flat[pixels]`` the Poisson counts of CDF inversion of the deviates ``u``.

    The CDF of pixel ``i`` at 0 .. nterm-1 counts is ``cdf[:, i]``; beyond the
    table it is continued term by term (float64; stops where the terms no
    longer change it, as the CDF saturates near 1).
    """
    nterm = cdf.shape[0]
    for i in range(pixels.size):
        k = 0
        while k < nterm and u[i] > cdf[k, i]:
            k += 1
        if k == nterm:
            term = np.exp(-mean[i])
            for j in range(1, nterm + 1):
                term *= mean[i] / j                      # P(nterm)
            c = cdf[nterm - 1, i] + term
            while u[i] > c and term > 1e-17 * c:
                k += 1
                term *= mean[i] / k
                c += term
        flat[pixels[i]] += k


@dataclass
class Element:
    """One elementary energy interval of a replica setup.

    Attributes
    ----------
    band : xsurvey.instrument.Band
        The interval (a processed band, or a part of one).
    exposure : numpy.ndarray
        Exposure map, s (FPMA+B).
    smooth : numpy.ndarray
        Expected smooth counts per pixel of every replica: background
        without fCXB plus ``fcxb_scale`` times the fCXB component.
    fcxb_scale : float
        Factor of the fCXB component (:func:`fcxb_scale`).
    columns : list of int
        Columns of :meth:`xsurvey.population.Population.conversions` whose
        sum is the interval's count rate.
    """

    band: object
    exposure: np.ndarray
    smooth: np.ndarray
    fcxb_scale: float
    columns: list

    def __post_init__(self):
        self.field = PoissonField(self.smooth)


@dataclass
class ReplicaSetup:
    """Everything the replicas of one stack need, computed once per job.

    Attributes
    ----------
    population : xsurvey.population.Population
        Sources of the mock skies.
    bands : list of str
        Processed bands (detection order).
    elements : list of Element
        Elementary intervals of the processed bands.
    members : dict
        ``band -> tuple`` of the indices of its elements.
    detectors : dict
        ``band -> xsurvey.detect.Detector`` built on the real maps.
    wcs : astropy.wcs.WCS
        Mosaic grid.
    psf : xsurvey.psf.RadialPSF
    pixel_arcsec, match_radius_arcsec, aperture_arcsec : float
    seed, stack
        Identity of the replica streams.
    truth : {"flux", "position"}
        Rule of :func:`match_sources`.
    truth_share : float
        Share of a detection's net counts one input must give (``flux`` rule).
    """

    population: object
    bands: list
    elements: list
    members: dict
    detectors: dict
    wcs: object
    psf: object
    pixel_arcsec: float
    match_radius_arcsec: float
    aperture_arcsec: float
    seed: int
    stack: str
    truth: str = "flux"
    truth_share: float = 0.25

    def __post_init__(self):
        if self.truth not in TRUTH_RULES:
            raise ValueError(f"simulations.truth: unknown rule {self.truth!r}; expected one of "
                             f"{TRUTH_RULES}")
        if not 0 < self.truth_share <= 1:
            raise ValueError(f"simulations.truth_share must lie in (0, 1], got "
                             f"{self.truth_share}")
        exposed = np.zeros(self.elements[0].exposure.shape, dtype=bool)
        for e in self.elements:
            exposed |= e.exposure > 0
        self._pixels = np.flatnonzero(exposed)
        self._area_deg2 = self._pixels.size * (self.pixel_arcsec / 3600.0) ** 2
        self._n_expected = self.population.expected_number(self._area_deg2)
        self._eef_max = float(self.psf.inverse_eef_table()[0][-1])
        self._psf_offsets = psf_offset_tables(self.psf.inverse_eef_table(), self.pixel_arcsec)
        self._band_columns = [self.population.band_index(b) for b in self.bands]
        self._ref_column = self.population.band_index(self.population.instrument.reference_band)

    @property
    def area_deg2(self) -> float:
        """Area where sources are drawn (exposure > 0 in some band), deg^2."""
        return self._area_deg2

    @property
    def expected_sources(self) -> float:
        """Mean number of input sources per replica."""
        return self._n_expected

    @property
    def shape(self) -> tuple:
        """Shape of the mosaics."""
        return self.elements[0].exposure.shape

    def aperture_fraction(self, separation_pix):
        """Fraction of a source's counts in the aperture of a detection ``separation_pix`` away."""
        return self.psf.aperture_fraction(np.asarray(separation_pix) * self.pixel_arcsec,
                                          self.aperture_arcsec)


def _solve_elements(values_by_band: dict, bands, elements, members, what: str):
    """Per-element values (maps or numbers) from per-band values.

    An element that is a processed band takes that band's value; the others
    are the least-squares solution of "band = sum of its elements" over the
    bands (exact for additive quantities such as counts and backgrounds).
    """
    names = [e.name for e in elements]
    if all(n in values_by_band for n in names):
        return [values_by_band[n] for n in names]
    m = np.array([[1.0 if k in members[b] else 0.0 for k in range(len(elements))]
                  for b in bands])
    if np.linalg.matrix_rank(m) < len(elements):
        raise ValueError(
            f"the bands {list(bands)} cannot be split into the elementary intervals "
            f"{names} of a joint replica ({what}); process a band for each interval")
    stacked = np.stack([np.asarray(values_by_band[b], float) for b in bands])
    flat = stacked.reshape(len(bands), -1)
    solved = np.linalg.lstsq(m, flat, rcond=None)[0].reshape((len(elements),)
                                                             + stacked.shape[1:])
    return [values_by_band[n] if n in values_by_band else np.clip(solved[k], 0.0, None)
            for k, n in enumerate(names)]


def make_setup(maps_by_band: dict, wcs, instrument, population, seed: int, stack: str,
               detection_params=None, real_detections=None, bright_flux=None,
               truth: str = "flux", truth_share: float = 0.25) -> ReplicaSetup:
    """Build the :class:`ReplicaSetup` of a stack from its mosaics.

    Parameters
    ----------
    maps_by_band : dict
        ``band -> {"counts", "exposure", "background", "background_nofcxb"}``
        real stack mosaics (counts, s, counts, counts) of every processed band.
    wcs : astropy.wcs.WCS
        Mosaic grid.
    instrument : xsurvey.instrument.Instrument
    population : xsurvey.population.Population
    seed : int
        Global seed.
    stack : str
        Stack name (part of every replica's seed).
    detection_params : xsurvey.detect.DetectionParameters, optional
        The same parameters as for the real data.
    real_detections : dict, optional
        ``band -> table`` of the real detections (columns ``net``, ``flux``);
        with ``bright_flux`` they set the fCXB top-up (:func:`fcxb_scale`).
    bright_flux : float, optional
        Reference-band flux above which sources count as bright.
    truth, truth_share
        Truth rule of the matching (:func:`match_sources`).
    """
    bands = list(maps_by_band)
    elements, members = elementary_bands(instrument, bands)
    detectors = {b: Detector(np.asarray(maps_by_band[b]["exposure"], float), wcs, instrument, b,
                             background=np.asarray(maps_by_band[b]["background"], float),
                             params=detection_params) for b in bands}
    eef_max = float(instrument.psf.inverse_eef_table()[0][-1])

    def per_band(fn):
        return {b: fn(b, maps_by_band[b]) for b in bands}

    nofcxb = _solve_elements(per_band(lambda b, m: np.asarray(m["background_nofcxb"], float)),
                             bands, elements, members, "backgrounds")
    fcxb = _solve_elements(per_band(lambda b, m: np.clip(
        np.asarray(m["background"], float) - np.asarray(m["background_nofcxb"], float), 0.0,
        None)), bands, elements, members, "fCXB")
    real = _solve_elements(per_band(lambda b, m: float(np.sum(m["counts"]))), bands, elements,
                           members, "counts")
    bright = _solve_elements(per_band(lambda b, m: bright_source_counts(
        real_detections[b]["net"], real_detections[b]["flux"],
        bright_flux * instrument.band_flux_ratio(b), instrument.eef_aperture, eef_max)
        if real_detections is not None and bright_flux is not None else 0.0),
        bands, elements, members, "bright sources")
    # exposure of an element: its own band's, else the narrowest band containing it
    exposure = []
    for k in range(len(elements)):
        owner = min((b for b in bands if k in members[b]), key=lambda b: len(members[b]))
        exposure.append(np.asarray(maps_by_band[owner]["exposure"], float))
    built = []
    for k, e in enumerate(elements):
        cols = population.columns_of(e.e_lo_kev, e.e_hi_kev)
        model = expected_source_counts(population, cols, exposure[k], instrument.pixel_arcsec,
                                       eef_max, bright_flux)
        scale = fcxb_scale(real[k], bright[k], float(nofcxb[k].sum()), model,
                           float(fcxb[k].sum()), f"{stack} {e.name}")
        built.append(Element(band=e, exposure=exposure[k],
                             smooth=nofcxb[k] + scale * fcxb[k], fcxb_scale=scale, columns=cols))
    return ReplicaSetup(
        population=population, bands=bands, elements=built, members=members,
        detectors=detectors, wcs=wcs, psf=instrument.psf,
        pixel_arcsec=instrument.pixel_arcsec, match_radius_arcsec=instrument.match_radius_arcsec,
        aperture_arcsec=instrument.aperture_radius_arcsec, seed=int(seed), stack=stack,
        truth=truth, truth_share=float(truth_share))


def expected_source_counts(population, columns, exposure, pixel_arcsec: float,
                           eef_max: float = 1.0, ref_flux_max=None) -> float:
    """Mean counts (FPMA+B) of the simulated sources in one energy interval.

    ``rate density x sum(exposure x pixel area) x EEF(kernel radius)``: the
    expectation of the rendered counts (:func:`source_image`) of the sources
    drawn over the exposed pixels, fainter than ``ref_flux_max`` in the
    reference band when given (:meth:`xsurvey.population.Population.rate_density`).

    Parameters
    ----------
    population : xsurvey.population.Population
    columns : list of int
        The interval's columns of ``Population.conversions``.
    exposure : numpy.ndarray
        Exposure map of the interval, s.
    pixel_arcsec : float
    eef_max : float
        EEF at the PSF kernel radius (counts beyond it are not rendered).
    ref_flux_max : float, optional
        Reference-band flux limit, erg cm^-2 s^-1.
    """
    pix_deg2 = (float(pixel_arcsec) / 3600.0) ** 2
    density = float(population.rate_density(columns, ref_flux_max).sum())
    return density * float(np.sum(exposure)) * pix_deg2 * float(eef_max)


def setup_from_files(map_files: dict, real_detection_files: dict, instrument, population,
                     stack: str, seed: int, detection: dict | None = None, bright_flux=None,
                     truth: str = "flux", truth_share: float = 0.25) -> ReplicaSetup:
    """:func:`make_setup` from the stack's mosaic files and its real detection tables.

    Parameters
    ----------
    map_files : dict
        ``band -> {kind: path}`` of every :data:`xsurvey.mosaic.MAP_KINDS` mosaic.
    real_detection_files : dict
        ``band -> path`` of the real detection tables.
    instrument, population, stack, seed, bright_flux, truth, truth_share
        As for :func:`make_setup`.
    detection : dict, optional
        ``detection`` configuration.
    """
    from astropy.table import Table

    from .config import detection_parameters
    from .io import read_mosaics

    maps, wcs = {}, None
    for band, files in map_files.items():
        maps[band], w = read_mosaics(files)
        wcs = wcs or w
    real = {b: Table.read(real_detection_files[b]) for b in maps}
    return make_setup(maps, wcs, instrument, population, seed, stack,
                      detection_parameters(detection or {}), real, bright_flux, truth,
                      truth_share)


def draw_inputs(setup: ReplicaSetup, rng: np.random.Generator) -> dict:
    """Input sources of one replica, uniform over the exposed pixels.

    Draw order: number, intrinsic fluxes, spectra, pixels, sub-pixel offsets.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (0-based pixel) and ``pixel`` (flat index); ``flux_int``
        (intrinsic counts-band flux), ``photon_index, nh, redshift``;
        ``flux`` ``(n, n_bands)`` observed band fluxes and ``flux_ref``
        (reference band), erg cm^-2 s^-1; ``rate``
        ``(n, n_elements)`` count rate of one module on axis (ct/s) and
        ``mu`` ``(n, n_elements)`` expected total counts (FPMA+B) at the
        source position in each elementary interval.
    """
    pop = setup.population
    n = int(rng.poisson(setup.expected_sources))
    flux_int = pop.intrinsic.draw_fluxes(rng, n)
    gamma, nh, z = pop.draw_spectra(rng, n)
    pix = setup._pixels[rng.integers(0, setup._pixels.size, n)]
    iy, ix = np.divmod(pix, setup.shape[1])
    x = ix + rng.uniform(-0.5, 0.5, n)
    y = iy + rng.uniform(-0.5, 0.5, n)
    flux_ratio, rate_ratio = pop.conversions(gamma, nh, z)
    rate = np.column_stack([flux_int * rate_ratio[:, e.columns].sum(axis=1)
                            for e in setup.elements])
    mu = rate * np.column_stack([e.exposure.flat[pix] for e in setup.elements])
    return {"x": x, "y": y, "pixel": pix, "flux_int": flux_int, "photon_index": gamma, "nh": nh,
            "redshift": z, "flux": flux_int[:, None] * flux_ratio[:, setup._band_columns],
            "flux_ref": flux_int * flux_ratio[:, setup._ref_column], "rate": rate, "mu": mu}


#: Number of bits of the PSF radius and angle tables (:func:`psf_offset_tables`).
PSF_TABLE_BITS = 16


def psf_offset_tables(inverse_eef, pixel_arcsec: float, bits: int = PSF_TABLE_BITS):
    """Radius and direction tables that place source counts with the PSF.

    ``2**bits`` radii at the mid-points of equal steps of the encircled
    energy (the PSF truncated at its kernel radius), and ``2**bits``
    directions at equal steps of angle: a count takes one radius and one
    direction chosen uniformly at random. The radial CDF is then exact to
    ``2**-bits`` (1.5e-5 for 16 bits), and a table look-up replaces the
    interpolation and trigonometry of every count.

    Parameters
    ----------
    inverse_eef : (numpy.ndarray, numpy.ndarray)
        :meth:`xsurvey.psf.RadialPSF.inverse_eef_table`.
    pixel_arcsec : float
        Pixel size, arcsec.
    bits : int
        log2 of the table sizes.

    Returns
    -------
    radius : numpy.ndarray
        Radii, pixels.
    cos, sin : numpy.ndarray
        Direction cosines.
    """
    eef, radius = inverse_eef
    steps = (np.arange(2**bits) + 0.5) / 2**bits
    phi = 2.0 * np.pi * steps
    return np.interp(steps * eef[-1], eef, radius) / pixel_arcsec, np.cos(phi), np.sin(phi)


def source_image(setup: ReplicaSetup, x, y, mu, rng: np.random.Generator):
    """Poisson counts of sources spread with the PSF.

    Each source's counts are Poisson (mean ``mu`` x EEF(kernel radius)); every
    count is placed at a radius drawn from the PSF and a uniform angle
    (:func:`psf_offset_tables`), then binned. This is a Poisson realisation
    of the PSF-convolved source image at a cost proportional to the number
    of source counts, not pixels.

    Parameters
    ----------
    x, y : array_like
        0-based pixel positions.
    mu : array_like
        Expected total counts of each source (whole PSF).

    Returns
    -------
    numpy.ndarray (int32)
        Source counts per pixel.
    """
    n_counts = rng.poisson(np.asarray(mu, float) * setup._eef_max)
    draw = rng.integers(0, 2 ** (2 * PSF_TABLE_BITS), int(n_counts.sum()),
                        dtype=np.uint32)                            # PSF_TABLE_BITS <= 16
    return _bin_psf_counts(np.asarray(x, np.float64), np.asarray(y, np.float64), n_counts,
                           draw, *setup._psf_offsets, PSF_TABLE_BITS, *setup.shape)


@njit(cache=True)
def _bin_psf_counts(x, y, n_counts, draw, radius, cos, sin, bits, ny, nx):  # pragma: no cover
    """Image of ``n_counts[s]`` counts per source placed by the PSF tables (compiled).

    Count ``k`` (sources in order) goes to the pixel nearest to its source's
    position plus ``radius[draw[k] >> bits]`` along direction ``draw[k] &
    (2**bits - 1)`` (:func:`psf_offset_tables`); counts off the map are lost.
    """
    image = np.zeros((ny, nx), np.int32)
    low = (1 << bits) - 1
    k = 0
    for s in range(n_counts.size):
        for _ in range(n_counts[s]):
            r = radius[draw[k] >> bits]
            j = draw[k] & low
            k += 1
            ix = int(np.rint(x[s] + r * cos[j]))
            iy = int(np.rint(y[s] + r * sin[j]))
            if 0 <= ix < nx and 0 <= iy < ny:
                image[iy, ix] += 1
    return image


def bright_source_counts(net_counts, flux, flux_cut: float, eef_aperture: float,
                         eef_max: float) -> float:
    """Total counts of the real detections brighter than ``flux_cut``.

    Aperture net counts divided by EEF(aperture) give a source's total counts;
    times EEF(kernel radius) they compare with the simulated sources.

    Parameters
    ----------
    net_counts, flux : array_like
        ``net`` and ``flux`` (band) columns of the real detection table.
    flux_cut : float
        Band flux above which a detection counts as bright, erg cm^-2 s^-1.
    eef_aperture, eef_max : float
        EEF of the photometry aperture and of the PSF kernel radius.
    """
    bright = np.asarray(flux, float) > flux_cut
    return float(np.clip(np.asarray(net_counts, float)[bright], 0, None).sum()
                 / eef_aperture * eef_max)


def fcxb_scale(real_counts: float, bright_counts: float, nofcxb_total: float,
               model_counts: float, fcxb_total: float, label: str = "") -> float:
    """Factor of the fCXB component that brings the expected total to the real counts.

    METHOD §7.3: the fCXB is rescaled so that the expected total counts equal
    those of the real mosaic; it stands for the sources below the minimum
    input flux. Here both totals leave out the bright sources: the real
    counts minus ``bright_counts`` (the real detections above the bright
    flux, :func:`bright_source_counts`), and the model's mean source counts
    below the bright flux (``model_counts``). A few bright sources carry a
    large, random share of the counts of a deep field; matching totals that
    include them would move their luck into the smooth background of every
    replica. The scale is the same for every replica. Clipped at zero, with
    a warning.

    Parameters
    ----------
    real_counts, bright_counts : float
        Counts of the real mosaic and of its bright sources.
    nofcxb_total, fcxb_total : float
        Summed background without fCXB and fCXB component, counts.
    model_counts : float
        Mean counts of the simulated sources (below the bright flux).
    label : str
        Stack and band, for the log.
    """
    if fcxb_total <= 0:
        return 0.0
    s = (real_counts - bright_counts - nofcxb_total - model_counts) / fcxb_total
    smooth = nofcxb_total + max(s, 0.0) * fcxb_total
    log.info("%s: real counts %.0f - bright sources %.0f = background without fCXB %.0f + "
             "model sources %.0f + %.3f x fCXB %.0f; replica smooth background / real "
             "background map = %.3f", label, real_counts, bright_counts, nofcxb_total,
             model_counts, s, fcxb_total, smooth / (nofcxb_total + fcxb_total))
    if s < 0:
        log.warning("%s: model sources exceed the real counts; fCXB top-up set to 0", label)
    return max(s, 0.0)


def match_sources(det_x, det_y, det_net, in_x, in_y, in_mu, in_flux, radius_pix: float,
                  aperture_fraction, rule: str = "flux", share: float = 0.25):
    """Match detections to inputs one-to-one: which detections are real (METHOD §7.5).

    ``rule="flux"``: a detection-input pair within ``radius_pix`` qualifies
    when the input's expected counts in the detection's aperture,
    ``mu x aperture_fraction(separation)``, are at least ``share`` of the
    detection's net counts (which must be positive); pairs are taken by
    decreasing contribution, each detection and input used once. A faint
    input that merely lies near a noise peak does not make it real, and a
    second detection in the wings of a bright source is not real either
    (its input is taken by the first).

    ``rule="position"`` (the seed papers'): any input within the radius
    qualifies; inputs are taken by decreasing flux, each with the nearest
    unmatched detection.

    Parameters
    ----------
    det_x, det_y, det_net : array_like
        Detection positions (pixels) and net counts in the aperture.
    in_x, in_y, in_mu, in_flux : array_like
        Input positions (pixels), expected total counts and flux (band).
    radius_pix : float
        Match radius, pixels.
    aperture_fraction : callable
        Separation (pixels) -> fraction of a source's counts in the aperture.
    rule : {"flux", "position"}
    share : float
        Minimum share of the net counts (``flux`` rule).

    Returns
    -------
    det_to_input : numpy.ndarray of int
        For each detection the index of its input, -1 if it is spurious.
    separation : numpy.ndarray
        Detection-input separation in pixels (NaN if unmatched).
    input_share : numpy.ndarray
        Expected counts of the matched input in the aperture / net counts
        (NaN if unmatched).
    """
    n_det = len(det_x)
    det_to_input = np.full(n_det, -1, dtype=np.int64)
    separation = np.full(n_det, np.nan)
    shares = np.full(n_det, np.nan)
    if n_det == 0 or len(in_x) == 0:
        return det_to_input, separation, shares
    pairs = cKDTree(np.c_[det_x, det_y]).sparse_distance_matrix(
        cKDTree(np.c_[in_x, in_y]), radius_pix, output_type="coo_matrix")
    d, j, dist = pairs.row, pairs.col, pairs.data
    net = np.asarray(det_net, float)[d]
    contrib = np.asarray(in_mu, float)[j] * aperture_fraction(dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        pair_share = np.where(net > 0, contrib / net, np.nan)
    if rule == "flux":
        ok = (net > 0) & (contrib >= share * net)
        d, j, dist, contrib, pair_share = (v[ok] for v in (d, j, dist, contrib, pair_share))
        order = np.lexsort((j, d, dist, -contrib))
    elif rule == "position":
        order = np.lexsort((d, dist, -np.asarray(in_flux, float)[j]))
    else:
        raise ValueError(f"unknown truth rule {rule!r}; expected one of {TRUTH_RULES}")
    used_input = np.zeros(len(in_x), dtype=bool)
    for k in order:  # qualifying pairs only: about one per detection
        if det_to_input[d[k]] < 0 and not used_input[j[k]]:
            det_to_input[d[k]] = j[k]
            separation[d[k]] = dist[k]
            shares[d[k]] = pair_share[k]
            used_input[j[k]] = True
    return det_to_input, separation, shares


def _take(values, index):
    """``values[index]`` with NaN where ``index`` is -1."""
    out = np.full(len(index), np.nan)
    ok = index >= 0
    out[ok] = np.asarray(values, float)[index[ok]]
    return out


def render(setup: ReplicaSetup, inputs: dict, rng: np.random.Generator) -> list:
    """Counts images of one replica, one per elementary interval.

    Each interval's image is a Poisson realisation of its smooth background
    plus its sources spread with the PSF (:func:`source_image`).
    """
    images = []
    for k, e in enumerate(setup.elements):
        sources = source_image(setup, inputs["x"], inputs["y"], inputs["mu"][:, k], rng)
        images.append(e.field.add_to(sources, rng))
    return images


def band_image(setup: ReplicaSetup, images: list, band: str) -> np.ndarray:
    """Counts image of a band: the sum of its elementary intervals' images."""
    members = setup.members[band]
    if len(members) == 1:
        return images[members[0]]
    return np.sum([images[k] for k in members], axis=0, dtype=images[members[0]].dtype)


def replica_sky(setup: ReplicaSetup, index: int):
    """Input sources and elementary-interval images of one replica (its own stream).

    Returns
    -------
    inputs : dict
        :func:`draw_inputs`.
    images : list of numpy.ndarray
        :func:`render`; a band's image is :func:`band_image` of these.
    """
    rng = np.random.default_rng(replica_seed(setup.seed, setup.stack, index))
    inputs = draw_inputs(setup, rng)
    return inputs, render(setup, inputs, rng)


def run_replica(setup: ReplicaSetup, index: int):
    """Simulate one replica, detect in every band and match the detections.

    Returns
    -------
    detections : dict of numpy.ndarray
        :data:`DETECTION_COLUMNS`, all bands (``band`` column).
    inputs : dict of numpy.ndarray
        :data:`INPUT_COLUMNS` and per band :data:`INPUT_BAND_COLUMNS`
        (``<name>_<band suffix>``).
    """
    inputs, images = replica_sky(setup, index)
    n_in = inputs["x"].size
    in_ra, in_dec = setup.wcs.wcs_pix2world(inputs["x"], inputs["y"], 0)
    inputs_out = {
        "replica": np.full(n_in, index, dtype=np.int32),
        "input_id": np.arange(n_in, dtype=np.int64), "ra": in_ra, "dec": in_dec,
        **{k: inputs[k] for k in INPUT_COLUMNS[4:]},
    }
    detections = []
    radius = setup.match_radius_arcsec / setup.pixel_arcsec
    for b, band in enumerate(setup.bands):
        det = setup.detectors[band].detect_arrays(band_image(setup, images, band))
        mu = inputs["mu"][:, list(setup.members[band])].sum(axis=1)
        det_to_in, sep_pix, share = match_sources(
            det["x"], det["y"], det["net"], inputs["x"], inputs["y"], mu,
            inputs["flux"][:, b], radius, setup.aperture_fraction, setup.truth,
            setup.truth_share)
        n_det = det_to_in.size
        detections.append({
            "band": np.full(n_det, band, dtype=object),
            "replica": np.full(n_det, index, dtype=np.int32),
            **{k: det[k] for k in MEASURED_COLUMNS},
            "input_id": det_to_in,
            "input_flux": _take(inputs["flux"][:, b], det_to_in),
            "input_flux_ref": _take(inputs["flux_ref"], det_to_in),
            "separation_arcsec": sep_pix * setup.pixel_arcsec,
            "input_share": share,
        })
        matched = det_to_in >= 0
        in_det = np.full(n_in, -1, dtype=np.int64)
        in_det[det_to_in[matched]] = np.flatnonzero(matched)
        sfx = band_suffix(band)
        inputs_out[f"flux_{sfx}"] = inputs["flux"][:, b]
        inputs_out[f"exposure_ks_{sfx}"] = setup.detectors[band].exposure.flat[
            inputs["pixel"]] / 1e3
        inputs_out[f"matched_{sfx}"] = in_det >= 0
        inputs_out[f"det_ml_{sfx}"] = _take(det["det_ml"], in_det)
        inputs_out[f"det_exposure_ks_{sfx}"] = _take(det["exposure_ks"], in_det)
    return ({k: np.concatenate([d[k] for d in detections]) for k in DETECTION_COLUMNS},
            inputs_out)


def run_replicas(setup: ReplicaSetup, indices, progress_every: int = 10):
    """Run several replicas; returns (detections, inputs) DataFrames in replica order."""
    dets, ins = [], []
    indices = list(indices)
    for k, i in enumerate(indices, 1):
        d, inp = run_replica(setup, i)
        dets.append(pd.DataFrame(d))
        ins.append(pd.DataFrame(inp))
        if k % progress_every == 0 or k == len(indices):
            log.info("%s: replica %d/%d done (%d detections in %d bands, %d inputs)",
                     setup.stack, k, len(indices), len(d["replica"]), len(setup.bands),
                     len(inp["replica"]))
    if not dets:
        return (pd.DataFrame({c: [] for c in DETECTION_COLUMNS}),
                pd.DataFrame({c: [] for c in INPUT_COLUMNS}))
    return pd.concat(dets, ignore_index=True), pd.concat(ins, ignore_index=True)


def band_inputs(inputs: pd.DataFrame, band: str) -> pd.DataFrame:
    """One band's view of a replica input table (``flux, exposure_ks, matched, det_ml,
    det_exposure_ks`` of that band, with ``replica, input_id, flux_ref``)."""
    sfx = band_suffix(band)
    return pd.DataFrame({"replica": inputs["replica"].to_numpy(),
                         "input_id": inputs["input_id"].to_numpy(),
                         "flux_ref": inputs["flux_ref"].to_numpy(),
                         **{c: inputs[f"{c}_{sfx}"].to_numpy() for c in INPUT_BAND_COLUMNS}})
