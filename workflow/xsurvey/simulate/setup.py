"""What every replica of a stack shares: exposure, background components, PSF and
spectral elements of each band, read once from the mosaics (method.md §7)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from xsurvey.detect.detector import Detector, detection_parameters
from xsurvey.instrument.core import elementary_bands
from xsurvey.io import read_mosaics
from xsurvey.simulate.match import TRUTH_RULES
from xsurvey.simulate.sampling import PoissonField, psf_offset_tables

log = logging.getLogger(__name__)


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
    psf : xsurvey.instrument.RadialPSF
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


    maps, wcs = {}, None
    for band, files in map_files.items():
        maps[band], w = read_mosaics(files)
        wcs = wcs or w
    real = {b: Table.read(real_detection_files[b]) for b in maps}
    return make_setup(maps, wcs, instrument, population, seed, stack,
                      detection_parameters(detection or {}), real, bright_flux, truth,
                      truth_share)


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

    method.md §7.3: the fCXB is rescaled so that the expected total counts equal
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
