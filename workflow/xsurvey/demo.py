"""The embedded synthetic demo survey.

Produces, from the ``demo`` section of ``config.yaml`` and an instrument
model, everything a real survey would start from: a truth sky
(:func:`make_demo_sky`), per-observation event files, exposure maps and
background maps (:func:`simulate_observation`, :func:`write_observation`) and
ancillary soft-X-ray and optical catalogues (:func:`make_ancillary_catalogs`).

Determinism: every random stream is a ``numpy.random.Generator`` seeded with
``numpy.random.SeedSequence([demo.seed, *identity])`` where the identity is a
tuple of stable integers (``zlib.crc32`` of strings such as the obs_id,
module, epoch or purpose). Nothing depends on Python's ``hash()``, on time,
on the order in which observations are simulated or on which other
observations or epochs exist.

Energy bands may overlap (NuSTAR: 3-24 = 3-8 + 8-24 and 8-24 = 8-16 + 16-24).
Background and events are built on the disjoint *elementary* intervals cut
by all band edges (:func:`xsurvey.instrument.elementary_bands`), so a composite band's
background map and events are exactly the sum of its elementary parts.

Units: energies keV, fluxes erg cm^-2 s^-1, exposure s, background maps
expected counts per pixel, angles degrees unless named ``arcmin`` /
``arcsec``.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from . import __version__, spectral
from .instrument import Instrument, elementary_bands
from .io import atomic_path, events_wcs_keywords, write_image
from .mosaic import tan_wcs
from .population import powerlaw_energy_flux
from .sky import BrokenPowerLawCounts, draw_positions, draw_sources, region_area_deg2

__all__ = [
    "BACKGROUND_COMPONENTS",
    "SimulatedObservation",
    "epoch_factor",
    "make_ancillary_catalogs",
    "make_demo_sky",
    "observation_wcs",
    "simulate_observation",
    "write_observation",
]

#: Background map components, in the order of the FITS extensions.
BACKGROUND_COMPONENTS = ("INTERNAL", "APERTURE", "FCXB")

#: Energy-grid step (keV) of the event energies' distribution.
ENERGY_STEP_KEV = 0.02
#: Demo mission elapsed time zero (the NuSTAR convention): 2010-01-01T00:00:00 TT.
DEMO_MJDREF = 55197
DEMO_TIME_ZERO = datetime(2010, 1, 1)
#: Start (MET, s) of demo observations when the row has no ``tstart`` (cosmetic).
DEMO_MET_START = 3.0e8
#: Cumulative slope of the unrelated soft-X-ray sources' counts (Euclidean).
SOFT_EXTRA_SLOPE = 1.5
#: dlog10(dN/dm)/dm of the optical field objects.
OPTICAL_COUNT_SLOPE = 0.33
#: Block size of the per-epoch variability streams (ids per SeedSequence).
_VAR_BLOCK = 4096


# --------------------------------------------------------------------------- seeds / config
def _key(item) -> int:
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        if item < 0:
            raise ValueError(f"seed identity integers must be >= 0, got {item}")
        return int(item)
    return zlib.crc32(str(item).encode("utf-8"))


def _rng(seed: int, *identity) -> np.random.Generator:
    """Generator seeded from ``(seed, *identity)``; strings enter through crc32."""
    return np.random.default_rng(np.random.SeedSequence([_key(seed), *map(_key, identity)]))


def _need(cfg: dict, key: str, where: str = "demo"):
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(cfg).__name__}")
    if key not in cfg:
        raise ValueError(f"{where}: missing required key '{key}'")
    return cfg[key]


def _seed(demo_cfg: dict) -> int:
    seed = _need(demo_cfg, "seed")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"demo: 'seed' must be a non-negative integer, got {seed!r}")
    return int(seed)


def _sky_region(demo_cfg: dict):
    center = np.asarray(_need(demo_cfg, "sky_center_deg"), dtype=float)
    if center.shape != (2,):
        raise ValueError(f"demo: 'sky_center_deg' must be [ra, dec], got {center.tolist()}")
    return tuple(center), _need(demo_cfg, "sky_size_arcmin")


def _row_value(row, key, default=None):
    try:
        return row[key]
    except (KeyError, IndexError, ValueError):
        if default is None:
            raise ValueError(f"observation row lacks '{key}'") from None
        return default


# --------------------------------------------------------------------------- bands / spectra
def _grid(e_lo, e_hi, step):
    return np.linspace(e_lo, e_hi, max(int(np.ceil((e_hi - e_lo) / step - 1e-9)), 8) + 1)


def _spectra(truth) -> tuple:
    """``(photon_index, nh, redshift)`` columns of a truth table."""
    return tuple(np.asarray(truth[c], dtype=float) for c in ("photon_index", "nh", "redshift"))


def source_rates(instrument: Instrument, truth: Table, bands) -> np.ndarray:
    """Count rates (ct/s, one module on axis) of truth sources in bands.

    ``norm x`` :meth:`~xsurvey.instrument.Instrument.fold` of each source's
    own spectrum.

    Parameters
    ----------
    bands : sequence of Band
        E.g. the elementary intervals of :func:`~xsurvey.instrument.elementary_bands`.

    Returns
    -------
    numpy.ndarray
        ``(n_sources, n_bands)``.
    """
    _, rate = instrument.fold([(b.e_lo_kev, b.e_hi_kev) for b in bands], *_spectra(truth))
    return np.asarray(truth["norm"], dtype=float)[:, None] * rate


def region_area_arcmin2(demo_cfg: dict) -> float:
    """Area (arcmin^2) of the square region where demo sources are drawn."""
    return float(region_area_deg2(_need(demo_cfg, "sky_size_arcmin"))) * 3600.0


def unresolved_rate_arcmin2(instrument, truth, elements, flux_limit: float,
                            area_arcmin2: float) -> np.ndarray:
    """Mean on-axis count rate per arcmin^2 of truth sources fainter than ``flux_limit``.

    A background fit to real data with the detected sources masked (nuskybgd)
    absorbs the light of the fainter sources into its fCXB normalisation; the
    demo adds this rate (per elementary band, counts s^-1 arcmin^-2, one
    module, vignetted like the fCXB) to the FCXB component of the background
    maps it writes, so that the maps describe the data as a fit would.

    Returns
    -------
    numpy.ndarray
        One rate per elementary band.
    """
    faint = truth[np.asarray(truth["flux_ref"], float) < flux_limit]
    if len(faint) == 0:
        return np.zeros(len(elements))
    return source_rates(instrument, faint, elements).sum(axis=0) / area_arcmin2


# --------------------------------------------------------------------------- truth sky
def make_demo_sky(instrument: Instrument, demo_cfg: dict, population) -> Table:
    """Draw the demo truth sky from the source population.

    Sources are drawn over the square ``sky_center_deg`` / ``sky_size_arcmin``
    from the population (:class:`xsurvey.population.Population`: intrinsic
    counts-band fluxes between its ``flux_min`` and ``flux_max``, and a
    spectrum per source: photon index, intrinsic column at the source
    redshift absorbing with the instrument's absorber, Galactic absorption
    on top), the same population as the replicas'. Band fluxes are the
    exact folding of each spectrum (:meth:`~xsurvey.instrument.Instrument.fold`).
    A fraction ``variable_fraction`` of sources is variable with amplitude
    ``variability_sigma_dex`` (see :func:`epoch_factor`).

    Parameters
    ----------
    instrument : Instrument
    demo_cfg : dict
        The ``demo`` section of ``config.yaml``.
    population : xsurvey.population.Population

    Returns
    -------
    astropy.table.Table
        Columns ``id`` (int64, from 1), ``ra``, ``dec`` (deg), ``flux_int``
        (intrinsic, unabsorbed energy flux in the population's counts band),
        ``norm`` (photons cm^-2 s^-1 keV^-1 at 1 keV), ``flux_ref``
        (reference-band observed energy flux, erg cm^-2 s^-1), ``flux_<band>``
        for every instrument band (observed; composite bands are exact sums of
        their elementary parts), ``photon_index``, ``nh`` (intrinsic, cm^-2),
        ``redshift``, ``variable`` (bool), ``var_amp_dex`` (sigma of log10
        flux between epochs; 0 for constant sources).
    """
    seed = _seed(demo_cfg)
    center, size = _sky_region(demo_cfg)
    src = draw_sources(_rng(seed, "sky", "sources"), population.intrinsic, center_deg=center,
                       size_arcmin=size)
    n = len(src)
    gamma, nh, redshift = population.draw_spectra(_rng(seed, "sky", "spectra"), n)

    rng_var = _rng(seed, "sky", "variability")
    variable = rng_var.random(n) < float(_need(demo_cfg, "variable_fraction"))
    amp = np.where(variable, float(_need(demo_cfg, "variability_sigma_dex")), 0.0)

    truth = Table()
    truth["id"] = src["id"]
    truth["ra"] = src["ra"]
    truth["dec"] = src["dec"]
    truth["flux_int"] = np.asarray(src["flux"], dtype=float)
    truth["norm"] = truth["flux_int"] / powerlaw_energy_flux(gamma, *population.counts_band_kev)
    flux, _ = instrument.fold(list(instrument.bands), gamma, nh, redshift)
    for k, name in enumerate(instrument.bands):
        truth[f"flux_{name}"] = truth["norm"] * flux[:, k]
        truth[f"flux_{name}"].unit = "erg / (cm2 s)"
    truth["flux_ref"] = truth[f"flux_{instrument.reference_band}"]
    truth["photon_index"] = gamma
    truth["nh"] = nh
    truth["nh"].unit = "cm-2"
    truth["redshift"] = redshift
    truth["variable"] = variable
    truth["var_amp_dex"] = amp
    truth["ra"].unit = truth["dec"].unit = "deg"
    for c in ("flux_int", "flux_ref"):
        truth[c].unit = "erg / (cm2 s)"
    truth["norm"].unit = "1 / (cm2 s keV)"
    lo, hi = population.counts_band_kev
    truth.meta.update({"DEMOSEED": seed, "REFBAND": instrument.reference_band,
                       "CNTBAND": f"{lo:g}-{hi:g}", "AREA": src.meta["AREA"],
                       "EXPECTED": src.meta["EXPECTED"]})
    return truth


def _truth_rows(truth: Table, ids: np.ndarray) -> np.ndarray:
    tid = np.asarray(truth["id"], dtype=np.int64)
    order = np.argsort(tid, kind="stable")
    pos = np.clip(np.searchsorted(tid, ids, sorter=order), 0, max(tid.size - 1, 0))
    idx = order[pos] if tid.size else np.zeros(ids.shape, dtype=int)
    bad = (tid[idx] != ids) if tid.size else np.ones(ids.shape, dtype=bool)
    if np.any(bad):
        raise KeyError(f"source id(s) not in the truth table: {ids[bad][:10].tolist()}")
    return idx


def epoch_factor(demo_seed: int, source_ids, epoch: str, truth: Table) -> np.ndarray:
    """Flux multiplier of sources in one epoch.

    ``1`` exactly for constant sources and ``10**(a z - a^2 ln(10) / 2)``
    with ``a = var_amp_dex`` and ``z ~ N(0, 1)`` for variable ones: a
    lognormal of mean 1, so that a variable source's mean flux over many
    epochs is its ``flux_ref`` (the replicas' constant sources are drawn with
    the same fluxes). ``z`` depends only on (``demo_seed``,
    source id, ``epoch``): ids are grouped in blocks of 4096 and each block
    has its own stream seeded by ``(seed, "variability", epoch, block)``, so
    the value does not depend on the other sources asked for, nor on which
    other epochs exist.

    Parameters
    ----------
    demo_seed : int
        ``demo.seed``.
    source_ids : array_like of int
        Non-negative truth ids.
    epoch : str
        Epoch name.
    truth : astropy.table.Table
        Truth table with ``id``, ``variable``, ``var_amp_dex``.

    Returns
    -------
    numpy.ndarray
        Multipliers (float64), same shape as ``source_ids``.
    """
    ids = np.atleast_1d(np.asarray(source_ids, dtype=np.int64))
    factor = np.ones(ids.shape)
    if ids.size == 0:
        return factor.reshape(np.shape(source_ids))
    if ids.min() < 0:
        raise ValueError("source ids must be non-negative")
    rows = _truth_rows(truth, ids)
    var = np.asarray(truth["variable"], dtype=bool)[rows]
    amp = np.asarray(truth["var_amp_dex"], dtype=float)[rows]
    vid = ids[var]
    z = np.empty(vid.shape)
    blocks = vid // _VAR_BLOCK
    for b in np.unique(blocks):
        sel = blocks == b
        z[sel] = _rng(demo_seed, "variability", str(epoch), int(b)).standard_normal(
            _VAR_BLOCK)[vid[sel] % _VAR_BLOCK]
    factor[var] = 10.0 ** (amp[var] * z - 0.5 * np.log(10.0) * amp[var] ** 2)
    return factor.reshape(np.shape(source_ids))


# --------------------------------------------------------------------------- observations
def observation_wcs(ra_deg: float, dec_deg: float, npix: int, pixel_arcsec: float) -> WCS:
    """North-up TAN grid of ``npix`` x ``npix`` pixels centred on a pointing.

    The pointing is the centre of pixel ``npix // 2`` (0-based), i.e.
    ``CRPIX = npix // 2 + 1``, so that it falls on a pixel centre for any
    ``npix``. RA increases to the left (``CDELT1 < 0``).
    """
    return tan_wcs((ra_deg, dec_deg), (npix, npix), pixel_arcsec,
                   crpix=(npix // 2 + 1.0, npix // 2 + 1.0))


@dataclass
class SimulatedObservation:
    """One simulated observation of one module (in memory).

    Attributes
    ----------
    obs_id, epoch, module, telescope : str
    wcs : astropy.wcs.WCS
        Sky grid of the images and of the event X, Y columns.
    npix : int
    roll_deg, ra_pnt, dec_pnt : float
        Pointing (deg).
    bands : dict
        Band name -> :class:`~xsurvey.instrument.Band` of the instrument.
    exposure_s, tstart, tstop : float
        Exposure (s) and the single good time interval (MET s).
    exposure : dict
        Band -> vignetting-corrected exposure map (s), float64.
    background : dict
        Band -> {component -> expected counts per pixel}; components
        ``INTERNAL``, ``APERTURE``, ``FCXB``. Composite bands are sums of
        their elementary parts.
    events : astropy.table.Table
        ``X``, ``Y`` (float64 sky pixels, FITS 1-based), ``PI`` (int32),
        ``TIME`` (float64 MET s), sorted by time.
    event_source_id : numpy.ndarray
        Truth id of each event (-1 for background); not written to files.
    sources : astropy.table.Table
        Truth sources inside the field of view: ``id``, ``ra``, ``dec``,
        ``x``, ``y`` (1-based pixel), ``offaxis_arcmin``, ``epoch_factor``,
        ``mu_<band>`` (expected counts of the whole PSF in the band, before
        the PSF truncation at the kernel radius and before losses at the
        field edge) and ``n_events`` (events kept, all bands).
    meta : dict
        Aperture stray-light gradient (``APANGLE`` deg, ``APRATIO``), seed.
    """

    obs_id: str
    epoch: str
    module: str
    telescope: str
    wcs: WCS
    npix: int
    ra_pnt: float
    dec_pnt: float
    roll_deg: float
    exposure_s: float
    tstart: float
    tstop: float
    bands: dict
    exposure: dict
    background: dict
    events: Table
    event_source_id: np.ndarray
    sources: Table
    meta: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        """Mapping-style access to the attributes (``result["events"]``)."""
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and key in {f.name for f in dataclasses.fields(self)}

    def background_total(self, band: str) -> np.ndarray:
        """Total expected background counts per pixel in ``band``."""
        comps = self.background[band]
        return comps["INTERNAL"] + comps["APERTURE"] + comps["FCXB"]


def _sample_rows(grid, pdf, rows, u):
    """Inverse-CDF sampling of a different tabulated density for each event.

    ``pdf`` has one row per source on ``grid``; event ``k`` uses row
    ``rows[k]`` and deviate ``u[k]``. The CDFs (trapezoid rule, each normalised
    to [0, 1]) are offset by their row index and flattened so that one
    ``searchsorted`` serves all events.
    """
    nrow, ne = pdf.shape
    cdf = np.concatenate(
        [np.zeros((nrow, 1)), np.cumsum(0.5 * (pdf[:, 1:] + pdf[:, :-1]) * np.diff(grid), axis=1)],
        axis=1)
    total = cdf[:, -1:]
    ramp = np.linspace(0.0, 1.0, ne)[None, :]
    cdf = np.where(total > 0, cdf / np.where(total > 0, total, 1.0), ramp)
    flat = (cdf + np.arange(nrow)[:, None]).ravel()
    target = rows + u
    j = np.searchsorted(flat, target, side="right") - 1
    j = np.clip(j, rows * ne, rows * ne + ne - 2)
    k = j - rows * ne
    c0, c1 = flat[j], flat[j + 1]
    t = np.clip((target - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0, 1.0)
    return grid[k] + t * (grid[k + 1] - grid[k])


def _fov_mask(dx, dy, half_pix, roll_rad):
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    return (np.abs(dx * c + dy * s) <= half_pix) & (np.abs(-dx * s + dy * c) <= half_pix)


def _off_axis_arcmin(dx, dy, pixel_arcsec):
    r_rad = np.radians(np.hypot(dx, dy) * pixel_arcsec / 3600.0)
    return np.degrees(np.arctan(r_rad)) * 60.0


def simulate_observation(instrument: Instrument, truth: Table, row, demo_cfg: dict
                         ) -> SimulatedObservation:
    """Simulate one observation of one module: exposure, background and events.

    The sky grid is :func:`observation_wcs` (``demo.image_npix`` pixels of
    ``instrument.pixel_arcsec``, centred on the pointing). The field of view
    is a square of ``instrument.field_of_view_arcmin`` side rotated by
    ``roll_deg`` counter-clockwise on the image (x right, y up); pixels are
    inside when their centre is.

    - Exposure map (s) of a band: ``exposure_ks * 1000 * vignetting(band,
      theta)`` inside the field of view, 0 outside.
    - Background (expected counts per pixel) of an elementary interval e with
      rate ``R_e = background.rate_cts_s_arcmin2 * background_share`` (the
      on-axis rate): INTERNAL ``(1 - a - f) R_e`` flat; APERTURE ``a R_e``
      times a linear gradient of mean 1 over the field, direction uniform
      and max/min ratio uniform in [1, ``aperture_gradient_max``] (drawn from
      the observation's stream; the same for all bands); FCXB
      ``f R_e vignetting_e(theta)``; ``a = background.aperture_fraction``,
      ``f`` = the interval's ``fcxb_fraction``. Composite bands are sums.
    - Background events: Poisson counts per pixel of each elementary map,
      positions uniform within the pixel, energies uniform within the
      interval.
    - Source events: a source inside the field has expected counts per
      elementary interval ``norm * integral(N(E) A(E) dE) * epoch_factor *
      exposure_s * vignetting_e(theta_src)`` where N(E) is its own spectrum
      normalised to ``flux_ref``. Counts are Poisson with mean multiplied by
      EEF(kernel radius) and radii are drawn from the PSF EEF truncated at
      ``psf.kernel_radius_arcsec`` (counts beyond it are dropped, like the
      truncated PSF kernel). Events landing in pixels outside the field of
      view or the image are dropped (detector edge). Energies follow
      N(E) A(E) within the interval; ``PI = instrument.pi_from_energy(E)``.
    - TIME uniform in the single GTI ``[tstart, tstart + exposure]``; events
      sorted by time.

    Parameters
    ----------
    instrument : Instrument
    truth : astropy.table.Table
        From :func:`make_demo_sky`.
    row : mapping
        Observation-table row with ``obs_id, epoch, module, ra_pnt, dec_pnt,
        roll_deg, exposure_ks``; an optional ``tstart`` (MET s) sets the GTI
        start (default: a cosmetic value derived from the obs_id).
    demo_cfg : dict
        ``demo`` section (uses ``seed`` and ``image_npix``).

    Returns
    -------
    SimulatedObservation
    """
    seed = _seed(demo_cfg)
    obs_id = str(_row_value(row, "obs_id"))
    epoch = str(_row_value(row, "epoch"))
    module = str(_row_value(row, "module"))
    ra0, dec0 = float(_row_value(row, "ra_pnt")), float(_row_value(row, "dec_pnt"))
    roll = float(_row_value(row, "roll_deg"))
    t_exp = float(_row_value(row, "exposure_ks")) * 1000.0
    if not t_exp > 0:
        raise ValueError(f"observation {obs_id} {module}: exposure_ks must be > 0")
    npix = int(_need(demo_cfg, "image_npix"))
    tstart = float(_row_value(row, "tstart", np.nan))
    if not np.isfinite(tstart):
        tstart = DEMO_MET_START + 86400.0 * (zlib.crc32(obs_id.encode()) % 1000)
    ident = ("obs", obs_id, module, epoch)

    pix = instrument.pixel_arcsec
    wcs = observation_wcs(ra0, dec0, npix, pix)
    c0 = npix // 2
    roll_rad = np.radians(roll)
    half_fov_pix = 0.5 * instrument.field_of_view_arcmin * 60.0 / pix
    idx = np.arange(npix) - c0
    dx, dy = np.meshgrid(idx.astype(float), idx.astype(float))
    inside = _fov_mask(dx, dy, half_fov_pix, roll_rad)
    theta = _off_axis_arcmin(dx, dy, pix)
    elements, members = elementary_bands(instrument)

    # exposure maps
    exposure = {name: np.where(inside, t_exp * instrument.vignetting(name, theta), 0.0)
                for name in instrument.bands}

    # background maps
    bkg = instrument.background
    rng_ap = _rng(seed, *ident, "aperture")
    angle = rng_ap.uniform(0.0, 2.0 * np.pi)
    gmax = float(bkg.aperture_gradient_max)
    if gmax < 1.0:
        raise ValueError(f"background.aperture_gradient_max must be >= 1, got {gmax}")
    ratio = rng_ap.uniform(1.0, gmax)
    proj = dx * np.cos(angle) + dy * np.sin(angle)
    h = np.abs(proj[inside]).max() if inside.any() else 1.0
    slope = (ratio - 1.0) / (ratio + 1.0)
    grad = np.where(inside, 1.0 + slope * proj / h, 0.0)
    if inside.any():
        grad /= grad[inside].mean()
    pix_area = (pix / 60.0) ** 2
    a = float(bkg.aperture_fraction)
    elem_bkg = []
    for b in elements:
        f = b.fcxb_fraction
        if a + f > 1.0 + 1e-12:
            raise ValueError(
                f"background.aperture_fraction ({a}) + fcxb_fraction of {b.name} ({f}) > 1")
        base = bkg.rate_cts_s_arcmin2 * b.background_share * pix_area * t_exp
        elem_bkg.append({
            "INTERNAL": np.where(inside, (1.0 - a - f) * base, 0.0),
            "APERTURE": a * base * grad,
            "FCXB": np.where(inside, f * base * instrument.vignetting(b, theta), 0.0),
        })
    # the maps handed to the pipeline are "fitted": their FCXB also holds the mean
    # light of the faint sources (events below come from the sources themselves)
    fit_flux = float(demo_cfg.get("background_fit_flux", 0.0))
    unresolved = (unresolved_rate_arcmin2(instrument, truth, elements, fit_flux,
                                          region_area_arcmin2(demo_cfg))
                  if fit_flux > 0 else np.zeros(len(elements)))
    fitted = [{**comps, "FCXB": comps["FCXB"] + np.where(
        inside, rate * pix_area * t_exp * instrument.vignetting(b, theta), 0.0)}
        for b, comps, rate in zip(elements, elem_bkg, unresolved, strict=True)]
    background = {name: {c: sum(fitted[i][c] for i in ids) for c in BACKGROUND_COMPONENTS}
                  for name, ids in members.items()}

    # background events
    rng_b = _rng(seed, *ident, "background-events")
    bx, by, be = [], [], []
    for b, comps in zip(elements, elem_bkg, strict=True):
        counts = rng_b.poisson(comps["INTERNAL"] + comps["APERTURE"] + comps["FCXB"]).ravel()
        pix_idx = np.repeat(np.arange(counts.size), counts)
        m = pix_idx.size
        bx.append(pix_idx % npix + 1.0 + rng_b.uniform(-0.5, 0.5, m))
        by.append(pix_idx // npix + 1.0 + rng_b.uniform(-0.5, 0.5, m))
        be.append(rng_b.uniform(b.e_lo_kev, b.e_hi_kev, m))

    # source events
    sx, sy, se, sid, src_table = _source_events(
        instrument, truth, elements, members, wcs, inside, half_fov_pix, roll_rad,
        t_exp, seed, epoch, _rng(seed, *ident, "source-events"))

    x = np.concatenate([*bx, sx])
    y = np.concatenate([*by, sy])
    energy = np.concatenate([*be, se])
    src_id = np.concatenate([np.full(sum(v.size for v in bx), -1, dtype=np.int64), sid])
    time = _rng(seed, *ident, "time").uniform(tstart, tstart + t_exp, x.size)
    order = np.argsort(time, kind="stable")
    pi = instrument.pi_from_energy(energy).astype(np.int32)
    events = Table({"X": x[order], "Y": y[order], "PI": pi[order], "TIME": time[order]})
    events["X"].unit = events["Y"].unit = "pixel"
    events["TIME"].unit = "s"
    return SimulatedObservation(
        obs_id=obs_id, epoch=epoch, module=module, telescope=instrument.name, wcs=wcs,
        npix=npix, ra_pnt=ra0, dec_pnt=dec0, roll_deg=roll, exposure_s=t_exp,
        tstart=tstart, tstop=tstart + t_exp,
        bands={name: instrument.band(name) for name in instrument.bands},
        exposure=exposure, background=background, events=events,
        event_source_id=src_id[order], sources=src_table,
        meta={"APANGLE": float(np.degrees(angle)), "APRATIO": float(ratio), "DEMOSEED": seed},
    )


def _source_events(instrument, truth, elements, members, wcs, inside, half_fov_pix, roll_rad,
                   t_exp, seed, epoch, rng):
    """Events of the truth sources inside the field of view (see simulate_observation)."""
    npix = inside.shape[0]
    c0 = npix // 2
    pix = instrument.pixel_arcsec
    ra0, dec0 = np.radians(wcs.wcs.crval)
    ra = np.radians(np.asarray(truth["ra"], dtype=float))
    dec = np.radians(np.asarray(truth["dec"], dtype=float))
    cos_sep = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    near = cos_sep > np.cos(np.radians(np.sqrt(2.0) * half_fov_pix * pix / 3600.0 * 1.01))
    sel = np.flatnonzero(near)
    xs = ys = np.empty(0)
    if sel.size:
        xs, ys = wcs.wcs_world2pix(np.degrees(ra[sel]), np.degrees(dec[sel]), 0)
        ok = _fov_mask(xs - c0, ys - c0, half_fov_pix, roll_rad)
        sel, xs, ys = sel[ok], xs[ok], ys[ok]
    theta = _off_axis_arcmin(xs - c0, ys - c0, pix)
    ids = np.asarray(truth["id"], dtype=np.int64)[sel]
    factor = epoch_factor(seed, ids, epoch, truth)
    sub = truth[sel]
    gamma, nh, z = _spectra(sub)
    ne = len(elements)
    rates = source_rates(instrument, sub, elements)
    mu = np.zeros((sel.size, ne))
    pdfs = []
    for j, b in enumerate(elements):
        mu[:, j] = rates[:, j] * factor * t_exp * instrument.vignetting(b, theta)
        e = _grid(b.e_lo_kev, b.e_hi_kev, ENERGY_STEP_KEV)       # event energies
        pdfs.append((e, spectral.photon_spectrum(
            e[None, :], gamma[:, None], nh[:, None], z[:, None], instrument.nh_galactic_cm2,
            instrument.absorber) * instrument.effective_area(e)[None, :]))

    eef_tab, r_tab = instrument.psf.inverse_eef_table()
    eef_max = eef_tab[-1]
    counts = rng.poisson(mu * eef_max)
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    s_idx, e_idx = flat // ne, flat % ne
    n = flat.size
    radius = np.interp(rng.uniform(0.0, eef_max, n), eef_tab, r_tab) / pix
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    x0 = xs[s_idx] + radius * np.cos(phi)
    y0 = ys[s_idx] + radius * np.sin(phi)
    energy = np.empty(n)
    for j, (b, (e, pdf)) in enumerate(zip(elements, pdfs, strict=True)):
        m = e_idx == j
        energy[m] = _sample_rows(e, pdf, s_idx[m], rng.random(int(m.sum())))
        energy[m] = np.clip(energy[m], b.e_lo_kev, b.e_hi_kev - 1e-6)
    ix, iy = np.rint(x0).astype(np.int64), np.rint(y0).astype(np.int64)
    keep = (ix >= 0) & (ix < npix) & (iy >= 0) & (iy < npix)
    keep[keep] = inside[iy[keep], ix[keep]]

    tab = Table()
    tab["id"] = ids
    tab["ra"] = np.asarray(sub["ra"], float)
    tab["dec"] = np.asarray(sub["dec"], float)
    tab["x"] = xs + 1.0
    tab["y"] = ys + 1.0
    tab["offaxis_arcmin"] = theta
    tab["epoch_factor"] = factor
    for name, idx in members.items():
        tab[f"mu_{name}"] = mu[:, list(idx)].sum(axis=1)
    tab["n_events"] = np.bincount(s_idx[keep], minlength=sel.size).astype(np.int64)
    return x0[keep] + 1.0, y0[keep] + 1.0, energy[keep], ids[s_idx[keep]], tab


# --------------------------------------------------------------------------- writing
def _date(met: float) -> str:
    return (DEMO_TIME_ZERO + timedelta(seconds=float(met))).strftime("%Y-%m-%dT%H:%M:%S")


def _common_cards(result: SimulatedObservation) -> dict:
    return {
        "TELESCOP": result.telescope,
        "INSTRUME": result.module,
        "OBS_ID": result.obs_id,
        "XSEPOCH": (result.epoch, "xsurvey epoch of this observation"),
        "OBJECT": "xsurvey demo field",
        "ORIGIN": "xsurvey demo",
        "CREATOR": f"xsurvey {__version__}",
        "DATE-OBS": _date(result.tstart),
        "DATE-END": _date(result.tstop),
        "EXPOSURE": (result.exposure_s, "[s] exposure (on-axis, dead-time free)"),
        "RA_PNT": (result.ra_pnt, "[deg] pointing RA"),
        "DEC_PNT": (result.dec_pnt, "[deg] pointing Dec"),
        "PA_PNT": (result.roll_deg, "[deg] field-of-view roll on the image"),
    }


def write_observation(result: SimulatedObservation, events_path, exposure_paths: dict,
                      background_paths: dict) -> None:
    """Write a simulated observation as the real pipeline's files.

    - Event file: primary HDU plus ``EVENTS`` binary table (``X``, ``Y`` float64
      sky pixels, 1-based; ``PI`` int32; ``TIME`` float64 MET s), sky WCS in
      the TCTYP/TCRVL/TCRPX/TCDLT column keywords, ``TELESCOP``,
      ``INSTRUME`` (= module), ``OBS_ID``, ``DATE-OBS``, ``EXPOSURE``,
      ``TSTART``/``TSTOP``, ``MJDREFI``/``MJDREFF``; plus a ``GTI`` table
      (``START``, ``STOP``).
    - Exposure maps: float32 image in s (``BUNIT = 's'``) per band.
    - Background maps: float32 primary image = total expected counts
      (``BUNIT = 'count'``) and image extensions ``INTERNAL``, ``APERTURE``,
      ``FCXB``.

    All writes are atomic and headers contain no timestamps, so the same
    inputs give byte-identical files.

    Parameters
    ----------
    result : SimulatedObservation
    events_path : path-like
    exposure_paths, background_paths : dict
        Band -> path; every band must be one of ``result.exposure``.
    """
    for kind, paths in (("exposure", exposure_paths), ("background", background_paths)):
        unknown = [b for b in paths if b not in result.exposure]
        if unknown:
            raise ValueError(f"{kind}_paths: unknown band(s) {unknown}; "
                             f"simulated bands are {list(result.exposure)}")
    cards = _common_cards(result)
    for band, path in exposure_paths.items():
        b = result.bands[band]
        extra = {**cards, "XSBAND": band, "E_MIN": (b.e_lo_kev, "[keV]"),
                 "E_MAX": (b.e_hi_kev, "[keV]"), "HDUCLAS1": "EXPOSURE"}
        write_image(path, result.exposure[band].astype(np.float32), result.wcs, "s", extra=extra)
    for band, path in background_paths.items():
        b = result.bands[band]
        comps = result.background[band]
        extra = {**cards, "XSBAND": band, "E_MIN": (b.e_lo_kev, "[keV]"),
                 "E_MAX": (b.e_hi_kev, "[keV]"), "HDUCLAS1": "BACKGROUND",
                 "APANGLE": (result.meta["APANGLE"], "[deg] stray-light gradient direction"),
                 "APRATIO": (result.meta["APRATIO"], "stray-light max/min ratio")}
        write_image(path, result.background_total(band).astype(np.float32), result.wcs, "count",
                    extra=extra,
                    extensions={c: comps[c].astype(np.float32) for c in BACKGROUND_COMPONENTS})
    _write_events(result, events_path, cards)


def _write_events(result: SimulatedObservation, path, cards: dict) -> None:
    ev = result.events
    cols = [
        fits.Column(name="X", format="D", unit="pixel", array=np.asarray(ev["X"], np.float64)),
        fits.Column(name="Y", format="D", unit="pixel", array=np.asarray(ev["Y"], np.float64)),
        fits.Column(name="PI", format="J", unit="chan", array=np.asarray(ev["PI"], np.int32)),
        fits.Column(name="TIME", format="D", unit="s", array=np.asarray(ev["TIME"], np.float64)),
    ]
    timing = {
        "TSTART": (result.tstart, "[s] start of the observation (MET)"),
        "TSTOP": (result.tstop, "[s] end of the observation (MET)"),
        "TIMESYS": "TT", "TIMEUNIT": "s",
        "MJDREFI": (DEMO_MJDREF, "MJD of MET zero (integer part)"),
        "MJDREFF": (0.0, "MJD of MET zero (fraction)"),
    }
    primary = fits.PrimaryHDU()
    primary.header.update({**cards, **timing})
    hdu = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    hdr = hdu.header
    hdr.update({**cards, **timing, "HDUCLAS1": "EVENTS",
                "LIVETIME": (result.exposure_s, "[s]"), "ONTIME": (result.exposure_s, "[s]")})
    hdr.update(events_wcs_keywords(result.wcs, 1, 2))
    for col in (1, 2):
        hdr[f"TLMIN{col}"] = 0.5
        hdr[f"TLMAX{col}"] = result.npix + 0.5
    gti = fits.BinTableHDU.from_columns(
        [fits.Column(name="START", format="D", unit="s", array=np.array([result.tstart])),
         fits.Column(name="STOP", format="D", unit="s", array=np.array([result.tstop]))],
        name="GTI")
    gti.header.update({**timing, "HDUCLAS1": "GTI"})
    with atomic_path(path) as tmp:
        fits.HDUList([primary, hdu, gti]).writeto(tmp, overwrite=True)


# --------------------------------------------------------------------------- ancillary
def _scatter(rng, ra, dec, sigma_arcsec):
    """Gaussian positional scatter of sigma (arcsec) per coordinate."""
    n = np.size(ra)
    s = np.broadcast_to(np.asarray(sigma_arcsec, float), (n,)) / 3600.0
    d_dec = rng.standard_normal(n) * s
    d_ra = rng.standard_normal(n) * s / np.cos(np.radians(dec))
    return (np.asarray(ra) + d_ra) % 360.0, np.asarray(dec) + d_dec


def _soft_fluxes(instrument, truth, e_lo, e_hi):
    flux, _ = instrument.fold([(e_lo, e_hi)], *_spectra(truth))
    return np.asarray(truth["norm"], dtype=float) * flux[:, 0]


def _spectroscopic_redshifts(rng, demo_cfg, mag, truth_id, truth):
    """Spectroscopic redshifts of optical objects (NaN where none was measured).

    Objects with ``mag < demo.optical.redshift_mag_limit`` are measured with
    probability ``redshift_completeness``; counterparts of hard truth
    sources (``truth_id >= 0``) get their truth redshift, other objects the
    redshift of a random truth source (the population's distribution).
    """
    ocfg = _need(demo_cfg, "optical")
    measured = ((mag < float(_need(ocfg, "redshift_mag_limit", "demo.optical")))
                & (rng.random(mag.size)
                   < float(_need(ocfg, "redshift_completeness", "demo.optical"))))
    pool = np.asarray(truth["redshift"], float)
    z = rng.choice(pool, mag.size) if pool.size else np.full(mag.size, np.nan)
    own = truth_id >= 0
    z[own] = pool[np.searchsorted(np.asarray(truth["id"], np.int64), truth_id[own])]
    return np.where(measured, z, np.nan)


def make_ancillary_catalogs(instrument: Instrument, truth: Table, demo_cfg: dict):
    """Soft-X-ray and optical catalogues of the demo sky, with their truth.

    Soft X-ray (XMM-like, ``demo.softx``): every truth source whose flux in
    ``band_kev`` (its own spectrum) exceeds ``flux_limit``, plus unrelated
    soft sources (surface density ``extra_density_deg2`` above the limit,
    Euclidean counts, uniform over the sky region). Each gets a positional
    error ``pos_err`` uniform in ``pos_err_arcsec`` and its catalogued
    position is scattered by ``N(0, pos_err)`` *per coordinate* (``pos_err``
    is the 1-sigma error of RA*cos(Dec) and of Dec; the radial offset is
    Rayleigh distributed with scale ``pos_err``).

    Optical (i band, ``demo.optical``): field objects with Poisson number of
    mean ``field_density_deg2 * area``, ``dN/dm`` proportional to
    ``10**(0.33 m)`` below ``mag_limit``, uniform positions; and the true
    counterparts of a random ``counterpart_fraction`` of all X-ray sources
    (hard truth and soft extras) with ``m = 2.5 (X/O - log10 f_X - C)``,
    ``X/O ~ N(xo_mean, xo_sigma)``, ``C = xo_constant`` and ``f_X`` the
    source's flux in the soft band, kept when ``m < mag_limit``, positions
    scattered by ``pos_err_arcsec`` per coordinate around the true X-ray
    position. Spectroscopic redshifts ``z_spec``: objects brighter than
    ``redshift_mag_limit`` get one with probability
    ``redshift_completeness`` -- the truth redshift for counterparts of hard
    truth sources, the redshift of a random truth source for the others (NaN
    otherwise).

    Catalogue rows are sorted by RA and numbered from 1.

    Parameters
    ----------
    instrument : Instrument
    truth : astropy.table.Table
        From :func:`make_demo_sky`.
    demo_cfg : dict
        ``demo`` section.

    Returns
    -------
    softx : astropy.table.Table
        ``id``, ``ra``, ``dec`` (deg), ``pos_err`` (arcsec, 1-sigma per
        coordinate), ``flux_soft`` (erg cm^-2 s^-1 in ``band_kev``).
    softx_truth : astropy.table.Table
        ``id``, ``truth_id`` (hard truth id or -1 for unrelated soft sources),
        ``ra_true``, ``dec_true``, ``has_counterpart`` (a counterpart was
        drawn, whatever its magnitude), ``mag_counterpart`` (NaN if none).
    optical : astropy.table.Table
        ``id``, ``ra``, ``dec`` (deg), ``pos_err`` (arcsec, per coordinate),
        ``mag_i``, ``z_spec``.
    optical_truth : astropy.table.Table
        ``id``, ``truth_id`` (-1 unless the counterpart of a hard truth
        source), ``softx_id`` (soft catalogue id of its X-ray source, or -1),
        ``counterpart`` (bool).
    """
    seed = _seed(demo_cfg)
    center, size = _sky_region(demo_cfg)
    area = region_area_deg2(size)
    scfg = _need(demo_cfg, "softx")
    ocfg = _need(demo_cfg, "optical")
    e_lo, e_hi = (float(v) for v in _need(scfg, "band_kev", "demo.softx"))
    limit = float(_need(scfg, "flux_limit", "demo.softx"))
    err_lo, err_hi = (float(v) for v in _need(scfg, "pos_err_arcsec", "demo.softx"))
    extra_density = float(_need(scfg, "extra_density_deg2", "demo.softx"))

    # soft X-ray list
    rng_s = _rng(seed, "ancillary", "softx")
    soft_true = _soft_fluxes(instrument, truth, e_lo, e_hi)
    det = soft_true > limit
    extra_model = BrokenPowerLawCounts(extra_density, limit, limit, SOFT_EXTRA_SLOPE,
                                       SOFT_EXTRA_SLOPE, limit, 1e6 * limit)
    extras = draw_sources(rng_s, extra_model, center_deg=center, size_arcmin=size)
    n_hard, n_extra = len(truth), len(extras)
    # X-ray population = all hard truth sources + soft extras
    x_ra = np.concatenate([np.asarray(truth["ra"], float), np.asarray(extras["ra"], float)])
    x_dec = np.concatenate([np.asarray(truth["dec"], float), np.asarray(extras["dec"], float)])
    x_flux = np.concatenate([soft_true, np.asarray(extras["flux"], float)])
    x_truth = np.concatenate([np.asarray(truth["id"], np.int64), np.full(n_extra, -1, np.int64)])
    in_soft = np.concatenate([det, np.ones(n_extra, dtype=bool)])
    rows = np.flatnonzero(in_soft)
    pos_err = rng_s.uniform(err_lo, err_hi, rows.size)
    s_ra, s_dec = _scatter(rng_s, x_ra[rows], x_dec[rows], pos_err)
    order = np.argsort(s_ra, kind="stable")
    rows, pos_err, s_ra, s_dec = rows[order], pos_err[order], s_ra[order], s_dec[order]
    softx_id = np.full(x_ra.size, -1, dtype=np.int64)
    softx_id[rows] = np.arange(1, rows.size + 1)

    # optical catalogue
    rng_o = _rng(seed, "ancillary", "optical")
    mag_limit = float(_need(ocfg, "mag_limit", "demo.optical"))
    opt_err = float(_need(ocfg, "pos_err_arcsec", "demo.optical"))
    n_field = int(rng_o.poisson(float(_need(ocfg, "field_density_deg2", "demo.optical")) * area))
    m_field = mag_limit + np.log10(1.0 - rng_o.random(n_field)) / OPTICAL_COUNT_SLOPE
    f_ra, f_dec = draw_positions(rng_o, n_field, center, size)
    has_cp = rng_o.random(x_ra.size) < float(_need(ocfg, "counterpart_fraction", "demo.optical"))
    xo = rng_o.normal(float(_need(ocfg, "xo_mean", "demo.optical")),
                      float(_need(ocfg, "xo_sigma", "demo.optical")), x_ra.size)
    mag_cp = 2.5 * (xo - np.log10(np.maximum(x_flux, 1e-300))
                    - float(_need(ocfg, "xo_constant", "demo.optical")))
    mag_cp = np.where(has_cp, mag_cp, np.nan)
    cp = np.flatnonzero(has_cp & (mag_cp < mag_limit))
    c_ra, c_dec = _scatter(rng_o, x_ra[cp], x_dec[cp], opt_err)

    o_ra = np.concatenate([f_ra, c_ra])
    o_dec = np.concatenate([f_dec, c_dec])
    o_mag = np.concatenate([m_field, mag_cp[cp]])
    o_truth = np.concatenate([np.full(n_field, -1, np.int64), x_truth[cp]])
    o_soft = np.concatenate([np.full(n_field, -1, np.int64), softx_id[cp]])
    o_cp = np.concatenate([np.zeros(n_field, bool), np.ones(cp.size, bool)])
    o_z = _spectroscopic_redshifts(_rng(seed, "ancillary", "redshift"), demo_cfg, o_mag,
                                   o_truth, truth)
    oo = np.argsort(o_ra, kind="stable")
    o_ids = np.arange(1, oo.size + 1, dtype=np.int64)

    softx = Table({"id": np.arange(1, rows.size + 1, dtype=np.int64), "ra": s_ra, "dec": s_dec,
                   "pos_err": pos_err, "flux_soft": x_flux[rows]})
    softx_truth = Table({"id": softx["id"].copy(), "truth_id": x_truth[rows],
                         "ra_true": x_ra[rows], "dec_true": x_dec[rows],
                         "has_counterpart": has_cp[rows], "mag_counterpart": mag_cp[rows]})
    optical = Table({"id": o_ids, "ra": o_ra[oo], "dec": o_dec[oo],
                     "pos_err": np.full(oo.size, opt_err), "mag_i": o_mag[oo],
                     "z_spec": o_z[oo]})
    optical_truth = Table({"id": o_ids.copy(), "truth_id": o_truth[oo], "softx_id": o_soft[oo],
                           "counterpart": o_cp[oo]})
    for t in (softx, optical):
        t["ra"].unit = t["dec"].unit = "deg"
        t["pos_err"].unit = "arcsec"
    softx["flux_soft"].unit = "erg / (cm2 s)"
    optical["mag_i"].unit = "mag"
    softx.meta.update({"E_MIN": e_lo, "E_MAX": e_hi, "FLUXLIM": limit, "AREA": area})
    optical.meta.update({"MAGLIM": mag_limit, "AREA": area})
    softx_truth.meta["N_HARD"] = n_hard
    return softx, softx_truth, optical, optical_truth
