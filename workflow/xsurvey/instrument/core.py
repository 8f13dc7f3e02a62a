"""Instrument model read from a YAML file (method.md §2).

Everything instrument specific (bands, PI-to-energy, pixel size, PSF,
effective area, vignetting, background model, spectral model, CF overrides)
comes from ``resources/instruments/<name>.yaml``; no instrument number lives
in code. Use :func:`load_instrument`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from scipy.optimize import nnls

from xsurvey.instrument import spectral
from xsurvey.instrument.psf import RadialPSF, psf_from_config


def band_suffix(band: str) -> str:
    """Column suffix of a band: ``'3-24'`` -> ``'3_24'`` ('-' -> '_', '.' -> 'p')."""
    return str(band).replace("-", "_").replace(".", "p")


#: Default tolerances of the cross-checks of an observation's files (:mod:`xsurvey.checks`).
DEFAULT_CHECKS = {"pi_range": [0, 4095], "exposure_gti_ratio": [0.4, 1.05],
                  "pointing_tolerance_arcmin": 3.0}


class InstrumentError(ValueError):
    """An instrument file is missing, malformed or asked for an unknown band."""


@dataclass(frozen=True)
class Band:
    """An energy band.

    Attributes
    ----------
    name : str
        Band key, e.g. ``"3-24"``.
    e_lo_kev, e_hi_kev : float
        Band edges, keV.
    letter : str
        One-letter code used in band-combination strings.
    vignetting_half_arcmin : float
        Off-axis angle (arcmin) where the relative effective area is 0.5.
    background_share : float
        Band background rate as a fraction of the reference-band rate.
    fcxb_fraction : float
        Fraction of the band's on-axis background that is focused CXB.
    """

    name: str
    e_lo_kev: float
    e_hi_kev: float
    letter: str
    vignetting_half_arcmin: float
    background_share: float
    fcxb_fraction: float


@dataclass(frozen=True)
class BackgroundModel:
    """Reference-band background of one module (counts s^-1 arcmin^-2)."""

    rate_cts_s_arcmin2: float
    aperture_fraction: float
    aperture_gradient_max: float


@dataclass
class EffectiveArea:
    """On-axis effective area of one module, linear interpolation in energy."""

    energy_kev: np.ndarray
    area_cm2: np.ndarray

    def __call__(self, energy_kev):
        return np.interp(energy_kev, self.energy_kev, self.area_cm2, left=0.0, right=0.0)

    @classmethod
    def from_arf(cls, path) -> EffectiveArea:
        """Read an OGIP ARF (``SPECRESP`` extension, ENERG_LO/HI, SPECRESP)."""

        try:
            with fits.open(path) as hdul:
                tab = hdul["SPECRESP"].data
                lo, hi, area = tab["ENERG_LO"], tab["ENERG_HI"], tab["SPECRESP"]
        except (OSError, KeyError) as exc:
            raise InstrumentError(
                f"{path}: cannot read an OGIP ARF (need extension SPECRESP with columns "
                f"ENERG_LO, ENERG_HI, SPECRESP): {exc}"
            ) from exc
        return cls(0.5 * (np.asarray(lo) + np.asarray(hi)), np.asarray(area, dtype=float))


@dataclass(frozen=True)
class EnergyResolution:
    """Energy resolution: FWHM (keV) against energy (keV), linear interpolation, held
    constant beyond the tabulated energies."""

    energy_kev: tuple
    fwhm_kev: tuple

    def fwhm(self, energy_kev):
        """FWHM (keV) at ``energy_kev``."""
        return np.interp(energy_kev, self.energy_kev, self.fwhm_kev)


@dataclass
class Instrument:
    """Instrument model; see the module docstring and ``nustar.yaml``."""

    name: str
    modules: tuple
    pixel_arcsec: float
    field_of_view_arcmin: float
    pi_offset_kev: float
    kev_per_pi: float
    aperture_radius_arcsec: float
    deblend_radius_arcsec: float
    match_radius_arcsec: float
    psf: RadialPSF
    effective_area: EffectiveArea
    photon_index: float
    nh_galactic_cm2: float
    reference_band: str
    bands: dict
    background: BackgroundModel
    cf_override: dict = field(default_factory=dict)
    absorber: str = "transmitted"
    checks: dict = field(default_factory=lambda: dict(DEFAULT_CHECKS))
    resolution: EnergyResolution | None = None

    def band(self, name: str) -> Band:
        """Return the :class:`Band` called ``name``; unknown names raise clearly."""
        try:
            return self.bands[name]
        except KeyError:
            raise InstrumentError(
                f"unknown band {name!r} for {self.name}; known bands: {', '.join(self.bands)}"
            ) from None

    # --- photometry -------------------------------------------------------
    def eef(self, radius_arcsec):
        """PSF encircled-energy fraction within ``radius_arcsec``."""
        return self.psf.eef(radius_arcsec)

    @property
    def eef_aperture(self) -> float:
        """EEF of the photometry aperture (0.32 for NuSTAR's 20")."""
        return float(self.psf.eef(self.aperture_radius_arcsec))

    def psf_kernel(self, pixel_arcsec: float | None = None) -> np.ndarray:
        """2-D PSF kernel at ``pixel_arcsec`` (default: the sky pixel)."""
        return self.psf.kernel(pixel_arcsec or self.pixel_arcsec)

    # --- energies -----------------------------------------------------------
    def pi_range(self, band: str) -> tuple[int, int]:
        """PI channels ``[lo, hi)`` whose energy lies in the band's ``[e_lo, e_hi)``."""
        b = self.band(band)
        return self.pi_bounds(b.e_lo_kev, b.e_hi_kev)

    def pi_bounds(self, e_lo_kev: float, e_hi_kev: float) -> tuple[int, int]:
        """PI channels ``[lo, hi)`` whose energy lies in ``[e_lo_kev, e_hi_kev)``."""
        lo = int(np.ceil((e_lo_kev - self.pi_offset_kev) / self.kev_per_pi - 1e-9))
        hi = int(np.ceil((e_hi_kev - self.pi_offset_kev) / self.kev_per_pi - 1e-9))
        return lo, hi

    def pi_from_energy(self, energy_kev):
        """PI channel of an energy (inverse of E = offset + slope * PI)."""
        return np.floor((np.asarray(energy_kev) - self.pi_offset_kev) / self.kev_per_pi + 1e-9)

    # --- spectral conversions ----------------------------------------------
    def fold(self, bands, photon_index=None, nh_cm2=0.0, redshift=0.0, nh_galactic_cm2=None):
        """Band energy fluxes and count rates of unit-normalised spectra.

        :func:`xsurvey.instrument.fold` with the instrument's absorber, on-axis
        effective area (one module) and, by default, its photon index and
        Galactic column.

        Parameters
        ----------
        bands : sequence of str or of (float, float)
            Band keys or edges (keV).
        photon_index, nh_cm2, redshift, nh_galactic_cm2 : array_like, optional
            Spectral parameters (broadcast together).

        Returns
        -------
        flux, rate : numpy.ndarray
            erg cm^-2 s^-1 and ct s^-1 per unit norm, shape ``params + (n_bands,)``.
        """
        edges = [(self.band(b).e_lo_kev, self.band(b).e_hi_kev) if isinstance(b, str) else b
                 for b in bands]
        return spectral.fold(
            edges, self.photon_index if photon_index is None else photon_index, nh_cm2,
            redshift, self.nh_galactic_cm2 if nh_galactic_cm2 is None else nh_galactic_cm2,
            self.absorber, self.effective_area)

    @cached_property
    def _default_fold(self) -> dict:
        flux, rate = self.fold(list(self.bands))
        return {name: (float(flux[k]), float(rate[k])) for k, name in enumerate(self.bands)}

    def cf(self, band: str) -> float:
        """Count-rate-to-flux factor (erg cm^-2 per count), one module on axis.

        Computed from the default spectral model folded through the effective
        area unless ``cf_override`` gives the band.
        """
        self.band(band)
        if band in self.cf_override:
            return float(self.cf_override[band])
        flux, rate = self._default_fold[band]
        return flux / rate

    def band_flux_ratio(self, band: str) -> float:
        """Flux in ``band`` divided by flux in the reference band, default spectrum."""
        self.band(band)
        return self._default_fold[band][0] / self._default_fold[self.reference_band][0]

    # --- field of view ------------------------------------------------------
    def vignetting(self, band, off_axis_arcmin):
        """Relative effective area at off-axis angle theta: 1 / (1 + (theta/theta50)^2).

        ``band`` is a band key or a :class:`Band` (e.g. an elementary interval
        of :func:`elementary_bands`).
        """
        t50 = (band if isinstance(band, Band) else self.band(band)).vignetting_half_arcmin
        return 1.0 / (1.0 + (np.asarray(off_axis_arcmin, dtype=float) / t50) ** 2)


def elementary_bands(instrument: Instrument, names=None):
    """Disjoint elementary energy intervals cut by all band edges.

    Parameters
    ----------
    instrument : Instrument
    names : sequence of str, optional
        Only these bands (default: all of the instrument's), e.g. the bands
        a survey processes.

    Returns
    -------
    elements : list of Band
        Elementary intervals in increasing energy (only those inside at least
        one band). When an interval is itself a band, that band is returned;
        otherwise its background share and fCXB share are the non-negative
        least-squares solution of "band value = sum of its elementary parts"
        over all bands and its vignetting is that of the narrowest band that
        contains it.
    members : dict
        Band name -> tuple of indices into ``elements`` whose union is the band.
    """
    bands = [instrument.band(n) for n in (instrument.bands if names is None else names)]
    edges = sorted({b.e_lo_kev for b in bands} | {b.e_hi_kev for b in bands})

    def within(lo, hi, b):
        return b.e_lo_kev <= lo and hi <= b.e_hi_kev

    ivs = [(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)
           if any(within(lo, hi, b) for b in bands)]
    members = {b.name: tuple(i for i, (lo, hi) in enumerate(ivs) if within(lo, hi, b))
               for b in bands}
    by_range = {(b.e_lo_kev, b.e_hi_kev): b for b in bands}
    if all(iv in by_range for iv in ivs):
        return [by_range[iv] for iv in ivs], members
    m = np.array([[1.0 if i in members[b.name] else 0.0 for i in range(len(ivs))] for b in bands])
    share, _ = nnls(m, np.array([b.background_share for b in bands]))
    fshare, _ = nnls(m, np.array([b.background_share * b.fcxb_fraction for b in bands]))
    elements = []
    for i, (lo, hi) in enumerate(ivs):
        if (lo, hi) in by_range:
            elements.append(by_range[(lo, hi)])
            continue
        narrow = min((b for b in bands if within(lo, hi, b)),
                     key=lambda b: b.e_hi_kev - b.e_lo_kev)
        elements.append(Band(
            name=f"{lo:g}-{hi:g}", e_lo_kev=lo, e_hi_kev=hi, letter="",
            vignetting_half_arcmin=narrow.vignetting_half_arcmin,
            background_share=float(share[i]),
            fcxb_fraction=float(fshare[i] / share[i]) if share[i] > 0 else 0.0,
        ))
    return elements, members


#: Top-level keys of an instrument file.
INSTRUMENT_KEYS = frozenset({
    "name", "modules", "pixel_arcsec", "field_of_view_arcmin", "energy_from_pi",
    "aperture_radius_arcsec", "deblend_radius_arcsec", "match_radius_arcsec", "psf",
    "effective_area", "spectrum", "reference_band", "bands", "background", "cf_override",
    "checks", "energy_resolution",
})


def _resolution_from_config(cfg, path) -> EnergyResolution | None:
    """The ``energy_resolution`` of an instrument file (None when it has none)."""
    if cfg is None:
        return None
    try:
        energy = np.asarray(cfg["energy_kev"], dtype=float)
        fwhm = np.asarray(cfg["fwhm_kev"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise InstrumentError(f"{path}: energy_resolution needs lists energy_kev and fwhm_kev "
                              f"(keV): {exc}") from None
    if not (energy.ndim == 1 and energy.shape == fwhm.shape and energy.size >= 1
            and np.all(np.diff(energy) > 0) and np.all(fwhm > 0)):
        raise InstrumentError(f"{path}: energy_resolution: energy_kev must increase and match "
                              f"fwhm_kev (> 0) in length")
    return EnergyResolution(tuple(energy.tolist()), tuple(fwhm.tolist()))


def _checks_from_config(cfg, path) -> dict:
    """The ``checks`` tolerances of an instrument file, defaults filled in."""
    out = dict(DEFAULT_CHECKS)
    unknown = sorted(set(cfg or {}) - set(DEFAULT_CHECKS))
    if unknown:
        raise InstrumentError(f"{path}: unknown key(s) checks.{', checks.'.join(unknown)} "
                              f"(expected {', '.join(DEFAULT_CHECKS)})")
    out.update(cfg or {})
    for key in ("pi_range", "exposure_gti_ratio"):
        pair = out[key]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] < pair[1]):
            raise InstrumentError(f"{path}: checks.{key} must be [low, high], got {pair!r}")
    if not float(out["pointing_tolerance_arcmin"]) > 0:
        raise InstrumentError(f"{path}: checks.pointing_tolerance_arcmin must be > 0")
    return out


def _require(cfg: dict, key: str, path) -> object:
    if key not in cfg:
        raise InstrumentError(f"{path}: missing required key '{key}'")
    return cfg[key]


def load_instrument(path) -> Instrument:
    """Read an instrument YAML file.

    Parameters
    ----------
    path : path-like
        E.g. ``resources/instruments/nustar.yaml``.

    Returns
    -------
    Instrument

    Raises
    ------
    InstrumentError
        If the file is missing, not YAML, or lacks a required key; messages
        name the file and the key.
    """
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InstrumentError(f"cannot read instrument file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise InstrumentError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(cfg, dict):
        raise InstrumentError(f"{path}: expected a mapping at top level")
    unknown = sorted(set(cfg) - INSTRUMENT_KEYS)
    if unknown:
        raise InstrumentError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))} "
                              f"(expected: {', '.join(sorted(INSTRUMENT_KEYS))})")

    bands = {}
    for name, b in _require(cfg, "bands", path).items():
        try:
            bands[str(name)] = Band(
                name=str(name),
                e_lo_kev=float(b["e_lo_kev"]),
                e_hi_kev=float(b["e_hi_kev"]),
                letter=str(b["letter"]),
                vignetting_half_arcmin=float(b["vignetting_half_arcmin"]),
                background_share=float(b["background_share"]),
                fcxb_fraction=float(b["fcxb_fraction"]),
            )
        except KeyError as exc:
            raise InstrumentError(f"{path}: band {name!r} lacks key {exc}") from None
        if not bands[str(name)].e_hi_kev > bands[str(name)].e_lo_kev:
            raise InstrumentError(f"{path}: band {name!r} has e_hi_kev <= e_lo_kev")

    area_cfg = _require(cfg, "effective_area", path)
    if "arf" in area_cfg:
        arf = Path(area_cfg["arf"])
        area = EffectiveArea.from_arf(arf if arf.is_absolute() else path.parent / arf)
    else:
        area = EffectiveArea(
            np.asarray(area_cfg["energy_kev"], dtype=float),
            np.asarray(area_cfg["area_cm2"], dtype=float),
        )

    pi = _require(cfg, "energy_from_pi", path)
    spec = _require(cfg, "spectrum", path)
    bkg = _require(cfg, "background", path)
    try:
        psf = psf_from_config(_require(cfg, "psf", path), base_dir=path.parent)
    except (ValueError, KeyError) as exc:
        raise InstrumentError(f"{path}: psf: {exc}") from exc
    inst = Instrument(
        name=str(_require(cfg, "name", path)),
        modules=tuple(_require(cfg, "modules", path)),
        pixel_arcsec=float(_require(cfg, "pixel_arcsec", path)),
        field_of_view_arcmin=float(_require(cfg, "field_of_view_arcmin", path)),
        pi_offset_kev=float(pi["offset_kev"]),
        kev_per_pi=float(pi["kev_per_pi"]),
        aperture_radius_arcsec=float(_require(cfg, "aperture_radius_arcsec", path)),
        deblend_radius_arcsec=float(_require(cfg, "deblend_radius_arcsec", path)),
        match_radius_arcsec=float(_require(cfg, "match_radius_arcsec", path)),
        psf=psf,
        effective_area=area,
        photon_index=float(spec["photon_index"]),
        nh_galactic_cm2=float(spec["nh_galactic_cm2"]),
        reference_band=str(_require(cfg, "reference_band", path)),
        bands=bands,
        background=BackgroundModel(
            rate_cts_s_arcmin2=float(bkg["rate_cts_s_arcmin2"]),
            aperture_fraction=float(bkg["aperture_fraction"]),
            aperture_gradient_max=float(bkg["aperture_gradient_max"]),
        ),
        cf_override=dict(cfg.get("cf_override") or {}),
        absorber=str(spec.get("absorber", "transmitted")),
        checks=_checks_from_config(cfg.get("checks"), path),
        resolution=_resolution_from_config(cfg.get("energy_resolution"), path),
    )
    if inst.absorber not in spectral.ABSORBERS:
        raise InstrumentError(f"{path}: spectrum.absorber is {inst.absorber!r}; expected one "
                              f"of {', '.join(spectral.ABSORBERS)}")
    inst.band(inst.reference_band)
    for b in inst.cf_override:
        inst.band(b)
    return inst
