"""Simulated replicas of a survey stack (METHOD §7).

Each replica is an independent mock sky observed with the stack's real
exposure and background, analysed with exactly the detection, deblending
and photometry code used on the real data (:class:`xsurvey.detect.Detector`),
and matched one-to-one to its input list. Every replica's random stream
comes from (global seed, stack, band, replica index), so results do not
depend on how replicas are split into jobs.
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
from .sky import CountsModel

log = logging.getLogger(__name__)

#: Columns of the per-replica detection table (see :func:`run_replica`).
DETECTION_COLUMNS = (
    "replica", "ra", "dec", "det_ml", "det_ml_raw", "exposure_ks", "counts", "bkg",
    "bkg_deblended", "net", "rate", "flux", "snr", "input_id", "input_flux", "input_flux_ref",
    "separation_arcsec",
)
#: Columns of the per-replica input table.
INPUT_COLUMNS = (
    "replica", "input_id", "ra", "dec", "flux", "flux_ref", "exposure_ks", "matched", "det_ml",
    "det_exposure_ks",
)


def replica_seed(seed: int, stack: str, band: str, index: int) -> np.random.SeedSequence:
    """Seed of one replica from its identity (stable across processes and chunkings)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(stack.encode()),
                                   zlib.crc32(band.encode()), int(index)])


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
class ReplicaSetup:
    """Everything a replica of one stack and band needs, computed once per job.

    Attributes
    ----------
    detector : xsurvey.detect.Detector
        Built on the real exposure and background maps.
    wcs : astropy.wcs.WCS
        Mosaic grid.
    exposure : numpy.ndarray
        Exposure map (FPMA+B), s.
    background_nofcxb, fcxb : numpy.ndarray
        Background without fCXB and the fCXB component, counts per pixel.
    real_counts : float
        Total counts of the real mosaic (the fCXB top-up matches it).
    counts_model : xsurvey.sky.CountsModel
        Cumulative number counts in the reference band, deg^-2.
    band_ratio : float
        Band flux / reference-band flux of the spectral model.
    cf : float
        Count-rate-to-flux factor of the band (erg cm^-2 per count, one module).
    pixel_arcsec : float
        Pixel size.
    match_radius_arcsec : float
        Input <-> detection matching radius.
    inverse_eef : (numpy.ndarray, numpy.ndarray)
        PSF radius sampling table (:meth:`xsurvey.psf.RadialPSF.inverse_eef_table`).
    seed, stack, band
        Identity of the replica streams.
    bright_counts, bright_flux
        Real bright-source counts and the reference-band flux cut that
        defines them (:func:`fcxb_scale`).
    """

    detector: Detector
    wcs: object
    exposure: np.ndarray
    background_nofcxb: np.ndarray
    fcxb: np.ndarray
    real_counts: float
    counts_model: CountsModel
    band_ratio: float
    cf: float
    pixel_arcsec: float
    match_radius_arcsec: float
    inverse_eef: tuple
    seed: int
    stack: str
    band: str
    bright_counts: float = 0.0
    bright_flux: float | None = None

    def __post_init__(self):
        allowed = self.exposure > 0
        self._pixels = np.flatnonzero(allowed)
        self._area_deg2 = self._pixels.size * (self.pixel_arcsec / 3600.0) ** 2
        self._n_expected = self.counts_model.expected_number(self._area_deg2)
        self._nofcxb_total = float(self.background_nofcxb.sum())
        self._fcxb_total = float(self.fcxb.sum())
        self.fcxb_scale = fcxb_scale(self, self.bright_counts, self.bright_flux)
        #: Expected smooth counts of every replica (constant: computed once, not per replica).
        self.smooth_background = self.background_nofcxb + self.fcxb_scale * self.fcxb
        self._smooth_field = PoissonField(self.smooth_background)
        self._psf_offsets = psf_offset_tables(self.inverse_eef, self.pixel_arcsec)

    @property
    def area_deg2(self) -> float:
        """Area where sources are drawn (exposure > 0), deg^2."""
        return self._area_deg2

    @property
    def expected_sources(self) -> float:
        """Mean number of input sources per replica."""
        return self._n_expected


def make_setup(counts, exposure, background, background_nofcxb, wcs, instrument, band: str,
               counts_model: CountsModel, seed: int, stack: str, detection_params=None,
               real_detections=None, bright_flux=None) -> ReplicaSetup:
    """Build the :class:`ReplicaSetup` of a stack and band from its mosaics.

    Parameters
    ----------
    counts, exposure, background, background_nofcxb : numpy.ndarray
        The real stack mosaics (counts, s, counts, counts).
    wcs : astropy.wcs.WCS
        Mosaic grid.
    instrument : xsurvey.instrument.Instrument
    band : str
    counts_model : xsurvey.sky.CountsModel
        Input logN-logS (reference band) with its flux range.
    seed : int
        Global seed.
    stack : str
        Stack name (part of every replica's seed).
    detection_params : xsurvey.detect.DetectionParameters, optional
        The same parameters as for the real data.
    real_detections : table, optional
        Detections of the real mosaic (columns ``net``, ``flux``); with
        ``bright_flux`` they set the fCXB top-up (:func:`fcxb_scale`).
    bright_flux : float, optional
        Reference-band flux above which sources count as bright.
    """
    exposure = np.asarray(exposure, float)
    background = np.asarray(background, float)
    nofcxb = np.asarray(background_nofcxb, float)
    detector = Detector(exposure, wcs, instrument, band, background=background,
                        params=detection_params)
    eef_max = float(instrument.psf.inverse_eef_table()[0][-1])
    bright_counts = 0.0
    if real_detections is not None and bright_flux is not None:
        bright_counts = bright_source_counts(
            real_detections["net"], real_detections["flux"],
            bright_flux * instrument.band_flux_ratio(band), instrument.eef_aperture, eef_max)
    return ReplicaSetup(
        detector=detector, wcs=wcs, exposure=exposure, background_nofcxb=nofcxb,
        fcxb=np.clip(background - nofcxb, 0.0, None), real_counts=float(np.sum(counts)),
        counts_model=counts_model, band_ratio=instrument.band_flux_ratio(band),
        cf=instrument.cf(band), pixel_arcsec=instrument.pixel_arcsec,
        match_radius_arcsec=instrument.match_radius_arcsec,
        inverse_eef=instrument.psf.inverse_eef_table(), seed=int(seed), stack=stack, band=band,
        bright_counts=bright_counts, bright_flux=bright_flux,
    )


def setup_from_files(map_files: dict, real_detections_file, instrument, band: str, stack: str,
                     seed: int, lognlogs: dict, detection: dict | None = None,
                     bright_flux=None) -> ReplicaSetup:
    """:func:`make_setup` from the stack's mosaic files and its real detection table.

    Parameters
    ----------
    map_files : dict
        Path of every :data:`xsurvey.mosaic.MAP_KINDS` mosaic of the stack and band.
    real_detections_file : path
        Detection table of the real stack mosaic.
    instrument, band, stack, seed, bright_flux
        As for :func:`make_setup`.
    lognlogs : dict
        ``simulations.lognlogs`` configuration.
    detection : dict, optional
        ``detection`` configuration.
    """
    from astropy.table import Table

    from .config import detection_parameters
    from .io import read_mosaics
    from .sky import counts_model_from_config

    maps, wcs = read_mosaics(map_files)
    return make_setup(maps["counts"], maps["exposure"], maps["background"],
                      maps["background_nofcxb"], wcs, instrument, band,
                      counts_model_from_config(lognlogs), seed, stack,
                      detection_parameters(detection or {}), Table.read(real_detections_file),
                      bright_flux)


def draw_inputs(setup: ReplicaSetup, rng: np.random.Generator) -> dict:
    """Input sources of one replica, uniform over the exposed pixels.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (0-based pixel), ``flux_ref`` and ``flux`` (band)
        (erg cm^-2 s^-1), ``exposure`` (s, at the source pixel) and ``mu``
        (expected total counts, FPMA+B).
    """
    n = int(rng.poisson(setup.expected_sources))
    flux_ref = setup.counts_model.draw_fluxes(rng, n)
    pix = setup._pixels[rng.integers(0, setup._pixels.size, n)]
    ny, nx = setup.exposure.shape
    iy, ix = np.divmod(pix, nx)
    x = ix + rng.uniform(-0.5, 0.5, n)
    y = iy + rng.uniform(-0.5, 0.5, n)
    flux = flux_ref * setup.band_ratio
    t = setup.exposure.flat[pix]
    return {"x": x, "y": y, "flux_ref": flux_ref, "flux": flux, "exposure": t,
            "mu": flux / setup.cf * t}


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


def source_image(setup: ReplicaSetup, inputs: dict, rng: np.random.Generator):
    """Poisson counts of the input sources spread with the PSF.

    Each source's counts are Poisson (mean ``mu`` x EEF(kernel radius)); every
    count is placed at a radius drawn from the PSF and a uniform angle
    (:func:`psf_offset_tables`), then binned. This is a Poisson realisation
    of the PSF-convolved source image at a cost proportional to the number
    of source counts, not pixels.

    Returns
    -------
    numpy.ndarray (int32)
        Source counts per pixel.
    """
    n_counts = rng.poisson(inputs["mu"] * setup.inverse_eef[0][-1])
    draw = rng.integers(0, 2 ** (2 * PSF_TABLE_BITS), int(n_counts.sum()),
                        dtype=np.uint32)                            # PSF_TABLE_BITS <= 16
    return _bin_psf_counts(np.asarray(inputs["x"], np.float64),
                           np.asarray(inputs["y"], np.float64), n_counts, draw,
                           *setup._psf_offsets, PSF_TABLE_BITS, *setup.exposure.shape)


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


def expected_source_counts(setup: ReplicaSetup, flux_max=None) -> float:
    """Mean total counts (FPMA+B) of the simulated sources fainter than ``flux_max``.

    ``intensity(counts model) x band ratio / CF x sum(exposure x pixel area)``
    times EEF(kernel radius): the expectation of :func:`source_image`.

    Parameters
    ----------
    flux_max : float, optional
        Reference-band flux limit (default: the model's maximum).
    """
    pix_deg2 = (setup.pixel_arcsec / 3600.0) ** 2
    exposure_area = float(setup.exposure.flat[setup._pixels].sum()) * pix_deg2
    model = setup.counts_model
    hi = model.flux_max if flux_max is None else min(float(flux_max), model.flux_max)
    intensity = model.intensity(model.flux_min, hi) * setup.band_ratio
    return intensity / setup.cf * exposure_area * float(setup.inverse_eef[0][-1])


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


def fcxb_scale(setup: ReplicaSetup, bright_counts: float = 0.0, bright_flux=None) -> float:
    """Factor of the fCXB component that brings the expected total to the real counts.

    METHOD §7.3: the fCXB is rescaled so that the expected total counts equal
    those of the real mosaic; it stands for the sources below the minimum
    input flux. Here both totals leave out the bright sources: the real
    counts minus ``bright_counts`` (the real detections above
    ``bright_flux``, :func:`bright_source_counts`), and the model's mean
    source counts below ``bright_flux``. A few bright sources carry a large,
    random share of the counts of a deep field; matching totals that include
    them would move their luck into the smooth background of every replica.
    The scale is the same for every replica. Clipped at zero, with a warning.

    Parameters
    ----------
    bright_counts : float
        Counts of the real bright sources.
    bright_flux : float, optional
        Reference-band flux of the cut (default: none, METHOD's plain totals).
    """
    if setup._fcxb_total <= 0:
        return 0.0
    sources = expected_source_counts(setup, bright_flux)
    s = (setup.real_counts - bright_counts - setup._nofcxb_total - sources) / setup._fcxb_total
    smooth = setup._nofcxb_total + max(s, 0.0) * setup._fcxb_total
    log.info("%s %s: real counts %.0f - bright sources %.0f = background without fCXB %.0f + "
             "model sources %.0f + %.3f x fCXB %.0f; replica smooth background / real "
             "background map = %.3f", setup.stack, setup.band, setup.real_counts, bright_counts,
             setup._nofcxb_total, sources, s, setup._fcxb_total,
             smooth / (setup._nofcxb_total + setup._fcxb_total))
    if s < 0:
        log.warning("%s %s: model sources exceed the real counts; fCXB top-up set to 0",
                    setup.stack, setup.band)
    return max(s, 0.0)


def match_one_to_one(det_x, det_y, in_x, in_y, in_flux, radius_pix: float):
    """Match detections to inputs one-to-one within a radius, brightest input first.

    Inputs are taken in order of decreasing flux; each gets the nearest
    still-unmatched detection within ``radius_pix``.

    Returns
    -------
    det_to_input : numpy.ndarray of int
        For each detection the index of its input, -1 if unmatched.
    separation : numpy.ndarray
        Detection-input separation in pixels (NaN if unmatched).
    """
    det_to_input = np.full(len(det_x), -1, dtype=np.int64)
    separation = np.full(len(det_x), np.nan)
    if len(det_x) == 0 or len(in_x) == 0:
        return det_to_input, separation
    pairs = cKDTree(np.c_[det_x, det_y]).sparse_distance_matrix(
        cKDTree(np.c_[in_x, in_y]), radius_pix, output_type="coo_matrix")
    d, j, dist = pairs.row, pairs.col, pairs.data
    order = np.lexsort((d, dist, -np.asarray(in_flux)[j]))
    used_input = np.zeros(len(in_x), dtype=bool)
    for k in order:  # pairs within the radius only: about one per detection
        if det_to_input[d[k]] < 0 and not used_input[j[k]]:
            det_to_input[d[k]] = j[k]
            separation[d[k]] = dist[k]
            used_input[j[k]] = True
    return det_to_input, separation


def _take(values, index):
    """``values[index]`` with NaN where ``index`` is -1."""
    out = np.full(len(index), np.nan)
    ok = index >= 0
    out[ok] = np.asarray(values, float)[index[ok]]
    return out


def run_replica(setup: ReplicaSetup, index: int):
    """Simulate, detect and match one replica.

    Returns
    -------
    detections : dict of numpy.ndarray
        :data:`DETECTION_COLUMNS`.
    inputs : dict of numpy.ndarray
        :data:`INPUT_COLUMNS`.
    """
    rng = np.random.default_rng(replica_seed(setup.seed, setup.stack, setup.band, index))
    inputs = draw_inputs(setup, rng)
    sources = source_image(setup, inputs, rng)
    counts = setup._smooth_field.add_to(sources, rng)
    det = setup.detector.detect_arrays(counts)

    pix = setup.pixel_arcsec
    det_to_in, sep_pix = match_one_to_one(det["x"], det["y"], inputs["x"], inputs["y"],
                                          inputs["flux"], setup.match_radius_arcsec / pix)
    matched = det_to_in >= 0
    in_ra, in_dec = setup.wcs.wcs_pix2world(inputs["x"], inputs["y"], 0)
    detections = {
        "replica": np.full(det_to_in.size, index, dtype=np.int32),
        **{k: det[k] for k in DETECTION_COLUMNS[1:13]},
        "input_id": det_to_in,
        "input_flux": _take(inputs["flux"], det_to_in),
        "input_flux_ref": _take(inputs["flux_ref"], det_to_in),
        "separation_arcsec": sep_pix * pix,
    }
    in_det = np.full(in_ra.size, -1, dtype=np.int64)
    in_det[det_to_in[matched]] = np.flatnonzero(matched)
    inputs_out = {
        "replica": np.full(in_ra.size, index, dtype=np.int32),
        "input_id": np.arange(in_ra.size, dtype=np.int64),
        "ra": in_ra, "dec": in_dec, "flux": inputs["flux"], "flux_ref": inputs["flux_ref"],
        "exposure_ks": inputs["exposure"] / 1e3, "matched": in_det >= 0,
        "det_ml": _take(det["det_ml"], in_det),
        "det_exposure_ks": _take(det["exposure_ks"], in_det),
    }
    return detections, inputs_out


def run_replicas(setup: ReplicaSetup, indices, progress_every: int = 10):
    """Run several replicas; returns (detections, inputs) DataFrames in replica order."""
    dets, ins = [], []
    indices = list(indices)
    for k, i in enumerate(indices, 1):
        d, inp = run_replica(setup, i)
        dets.append(pd.DataFrame(d))
        ins.append(pd.DataFrame(inp))
        if k % progress_every == 0 or k == len(indices):
            log.info("%s %s: replica %d/%d done (%d detections, %d inputs)", setup.stack,
                     setup.band, k, len(indices), len(d["replica"]), len(inp["replica"]))
    empty_d = pd.DataFrame({c: [] for c in DETECTION_COLUMNS})
    empty_i = pd.DataFrame({c: [] for c in INPUT_COLUMNS})
    return (pd.concat(dets, ignore_index=True) if dets else empty_d,
            pd.concat(ins, ignore_index=True) if ins else empty_i)
