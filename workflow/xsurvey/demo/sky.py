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

import zlib

import numpy as np
from astropy.table import Table

from xsurvey.instrument.core import Instrument
from xsurvey.population.model import powerlaw_energy_flux
from xsurvey.population.sky import draw_sources, region_area_deg2

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
