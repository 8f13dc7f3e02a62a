"""The demo's observation files, as the NuSTAR pipeline writes them: event files
(EVENTS, GTI), vignetted exposure maps and background maps with their components."""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from xsurvey import __version__
from xsurvey.demo.sky import (
    _grid,
    _need,
    _rng,
    _row_value,
    _seed,
    _spectra,
    epoch_factor,
    region_area_arcmin2,
    source_rates,
    unresolved_rate_arcmin2,
)
from xsurvey.instrument import spectral
from xsurvey.instrument.core import Instrument, elementary_bands
from xsurvey.io import atomic_path, events_wcs_keywords, write_image
from xsurvey.mosaic.grid import tan_wcs

#: Background map components, in the order of the FITS extensions.
BACKGROUND_COMPONENTS = ("INTERNAL", "APERTURE", "FCXB")


#: Energy-grid step (keV) of the event energies' distribution.
ENERGY_STEP_KEV = 0.02


#: Demo mission elapsed time zero (the NuSTAR convention): 2010-01-01T00:00:00 TT.
DEMO_MJDREF = 55197


DEMO_TIME_ZERO = datetime(2010, 1, 1)


#: Start (MET, s) of demo observations when the row has no ``tstart`` (cosmetic).
DEMO_MET_START = 3.0e8


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


def _line_density(grid, line_kev, photons, area):
    """Narrow lines on the trapezoid grid of :func:`_sample_rows`: each line's count rate
    ``photons x A(E)`` as a spike of that area at the nearest interior node.

    Parameters
    ----------
    grid : numpy.ndarray
        Equally spaced energies, keV.
    line_kev, photons : numpy.ndarray
        ``(n_sources, n_lines)`` energies (keV) and photon fluxes
        (:func:`xsurvey.instrument.spectral.fluorescence_lines`).
    area : callable
        Effective area, cm^2.

    Returns
    -------
    numpy.ndarray
        ``(n_sources, grid.size)`` count-rate density, ct s^-1 keV^-1 per unit norm.
    """
    step = grid[1] - grid[0]
    out = np.zeros((line_kev.shape[0], grid.size))
    k = np.rint((line_kev - grid[0]) / step).astype(np.intp)
    inside = (k > 0) & (k < grid.size - 1) & (photons > 0)
    rows = np.broadcast_to(np.arange(line_kev.shape[0])[:, None], k.shape)
    np.add.at(out, (rows[inside], k[inside]), photons[inside] * area(line_kev[inside]) / step)
    return out


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
        pdf = spectral.photon_spectrum(
            e[None, :], gamma[:, None], nh[:, None], z[:, None], instrument.nh_galactic_cm2,
            instrument.absorber) * instrument.effective_area(e)[None, :]
        lines = spectral.fluorescence_lines(gamma, nh, z, instrument.nh_galactic_cm2,
                                            instrument.absorber)
        pdfs.append((e, pdf + _line_density(e, *lines, instrument.effective_area)))

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
