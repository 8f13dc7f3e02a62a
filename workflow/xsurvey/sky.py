"""Mock skies: number-count models and uniform source positions (METHOD §7 step 1).

A *counts model* gives the cumulative number of sources per square degree
brighter than a flux, N(>S), in the reference band, and draws fluxes from it
by inverse-CDF sampling. Two kinds share one interface
(:class:`CountsModel`):

- :class:`BrokenPowerLawCounts`: N(>S) = norm (S/flux_ref)^-slope_bright above
  ``flux_break``, continuing with ``slope_faint`` below it (continuous).
- :class:`TabulatedCounts`: a user table of (flux, N(>S)), interpolated
  linearly in log-log space.

Positions are drawn uniformly *on the sphere* either over a square region of
the tangent plane (gnomonic projection about a centre) or over the allowed
pixels of a WCS image (boolean mask), which is what replica simulations use.
:func:`draw_sources` combines both into a source list with a Poisson number
of sources.

Units: fluxes in erg cm^-2 s^-1, surface densities in deg^-2, angles in
degrees unless a name says ``arcmin`` / ``arcsec``. Every random draw takes a
``numpy.random.Generator`` so that callers control the streams.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from astropy.table import Table

__all__ = [
    "COUNTS_SHAPES",
    "BrokenPowerLawCounts",
    "CountsModel",
    "SmoothBrokenPowerLawCounts",
    "TabulatedCounts",
    "counts_model_from_config",
    "draw_positions",
    "draw_positions_in_mask",
    "draw_sources",
    "mask_area_deg2",
    "region_area_deg2",
    "sky_to_tangent",
    "tangent_to_sky",
]

_ARCMIN_RAD = np.pi / (180.0 * 60.0)
_SR_TO_DEG2 = (180.0 / np.pi) ** 2


# --------------------------------------------------------------------------- counts models
class CountsModel(ABC):
    """Cumulative number counts N(>S) in deg^-2 with a default flux range.

    Parameters
    ----------
    flux_min, flux_max : float
        Default flux range (erg cm^-2 s^-1) of :meth:`expected_number` and
        :meth:`draw_fluxes`; ``0 < flux_min < flux_max``.
    """

    def __init__(self, flux_min: float, flux_max: float):
        flux_min, flux_max = float(flux_min), float(flux_max)
        if not 0.0 < flux_min < flux_max:
            raise ValueError(
                f"counts model needs 0 < flux_min < flux_max, got flux_min={flux_min:g}, "
                f"flux_max={flux_max:g}"
            )
        self.flux_min = flux_min
        self.flux_max = flux_max

    @abstractmethod
    def n_gt_s(self, flux):
        """Cumulative surface density N(>S), deg^-2, of fluxes ``flux`` (erg cm^-2 s^-1)."""

    @abstractmethod
    def _flux_at(self, n_gt_s):
        """Inverse of :meth:`n_gt_s` (flux whose N(>S) equals ``n_gt_s``)."""

    def _range(self, flux_min, flux_max) -> tuple[float, float]:
        lo = self.flux_min if flux_min is None else float(flux_min)
        hi = self.flux_max if flux_max is None else float(flux_max)
        if not 0.0 < lo < hi:
            raise ValueError(f"need 0 < flux_min < flux_max, got {lo:g}, {hi:g}")
        return lo, hi

    def expected_number(self, area_deg2, flux_min=None, flux_max=None):
        """Expected number of sources with ``flux_min < S <= flux_max``.

        Parameters
        ----------
        area_deg2 : float or array_like
            Solid angle, deg^2.
        flux_min, flux_max : float, optional
            Flux range, erg cm^-2 s^-1 (default: the model's range).

        Returns
        -------
        float or numpy.ndarray
            ``area * (N(>flux_min) - N(>flux_max))``.
        """
        lo, hi = self._range(flux_min, flux_max)
        return np.asarray(area_deg2, dtype=float) * (self.n_gt_s(lo) - self.n_gt_s(hi))

    def intensity(self, flux_min=None, flux_max=None) -> float:
        """Summed flux of the sources per unit area, erg cm^-2 s^-1 deg^-2.

        ``integral S |dN/dS| dS = lo N(>lo) - hi N(>hi) + integral N(>S) dS``
        (by parts), the last term by the trapezoidal rule in log S.
        """
        lo, hi = self._range(flux_min, flux_max)
        s = np.geomspace(lo, hi, 4001)
        tail = np.trapezoid(self.n_gt_s(s) * s, np.log(s))
        return float(lo * self.n_gt_s(lo) - hi * self.n_gt_s(hi) + tail)

    def draw_fluxes(self, rng, n: int, flux_min=None, flux_max=None) -> np.ndarray:
        """Draw ``n`` fluxes distributed as dN/dS between ``flux_min`` and ``flux_max``.

        Inverse-CDF sampling: a uniform deviate is mapped to a value of N(>S)
        between N(>flux_max) and N(>flux_min), then inverted analytically
        (broken power law) or by log-log interpolation (table).

        Parameters
        ----------
        rng : numpy.random.Generator
            Random stream (one uniform deviate per source is consumed).
        n : int
            Number of fluxes.
        flux_min, flux_max : float, optional
            Flux range, erg cm^-2 s^-1 (default: the model's range).

        Returns
        -------
        numpy.ndarray
            Fluxes in erg cm^-2 s^-1, shape ``(n,)``.
        """
        lo, hi = self._range(flux_min, flux_max)
        n_lo, n_hi = float(self.n_gt_s(lo)), float(self.n_gt_s(hi))
        target = n_hi + rng.random(int(n)) * (n_lo - n_hi)
        return np.clip(self._flux_at(target), lo, hi)

    def cdf(self, flux, flux_min=None, flux_max=None):
        """Fraction of sources in the flux range that are fainter than ``flux``."""
        lo, hi = self._range(flux_min, flux_max)
        f = np.clip(np.asarray(flux, dtype=float), lo, hi)
        n_lo, n_hi = self.n_gt_s(lo), self.n_gt_s(hi)
        return (n_lo - self.n_gt_s(f)) / (n_lo - n_hi)


class BrokenPowerLawCounts(CountsModel):
    """Broken power-law cumulative counts.

    ``N(>S) = norm (S / flux_ref)^-slope_bright`` for ``S >= flux_break`` and
    ``N(>S) = N(>flux_break) (S / flux_break)^-slope_faint`` below, so N(>S) is
    continuous at the break.

    Parameters
    ----------
    norm_deg2 : float
        N(>flux_ref) of the bright branch, deg^-2.
    flux_ref, flux_break : float
        Normalisation and break fluxes, erg cm^-2 s^-1.
    slope_bright, slope_faint : float
        Positive cumulative slopes (1.5 is Euclidean).
    flux_min, flux_max : float
        Default flux range, erg cm^-2 s^-1.
    """

    def __init__(self, norm_deg2, flux_ref, flux_break, slope_bright, slope_faint,
                 flux_min, flux_max):
        super().__init__(flux_min, flux_max)
        self.norm_deg2 = float(norm_deg2)
        self.flux_ref = float(flux_ref)
        self.flux_break = float(flux_break)
        self.slope_bright = float(slope_bright)
        self.slope_faint = float(slope_faint)
        if not (self.norm_deg2 > 0 and self.flux_ref > 0 and self.flux_break > 0):
            raise ValueError("broken power law needs norm_deg2, flux_ref, flux_break > 0")
        if not (self.slope_bright > 0 and self.slope_faint > 0):
            raise ValueError(
                f"broken power law slopes must be > 0, got slope_bright={self.slope_bright}, "
                f"slope_faint={self.slope_faint}"
            )
        self.n_break = self.norm_deg2 * (self.flux_break / self.flux_ref) ** -self.slope_bright

    def n_gt_s(self, flux):
        s = np.asarray(flux, dtype=float)
        bright = self.norm_deg2 * (s / self.flux_ref) ** -self.slope_bright
        faint = self.n_break * (s / self.flux_break) ** -self.slope_faint
        return np.where(s >= self.flux_break, bright, faint)

    def _flux_at(self, n_gt_s):
        n = np.asarray(n_gt_s, dtype=float)
        bright = self.flux_ref * (n / self.norm_deg2) ** (-1.0 / self.slope_bright)
        faint = self.flux_break * (n / self.n_break) ** (-1.0 / self.slope_faint)
        return np.where(n <= self.n_break, bright, faint)

    def __repr__(self):
        return (f"BrokenPowerLawCounts(norm_deg2={self.norm_deg2:g}, flux_ref={self.flux_ref:g}, "
                f"flux_break={self.flux_break:g}, slope_bright={self.slope_bright:g}, "
                f"slope_faint={self.slope_faint:g}, flux_min={self.flux_min:g}, "
                f"flux_max={self.flux_max:g})")


class SmoothBrokenPowerLawCounts(CountsModel):
    """Smoothly broken power-law cumulative counts (the form of Moretti et al. 2003).

    ``N(>S) = norm (flux_pivot)^a1 / (S^a1 + flux_break^(a1 - a2) S^a2)``
    with ``a1 = slope_bright`` and ``a2 = slope_faint``: slope a1 well above
    the break, a2 well below it. Moretti et al. (2003, ApJ 588, 696) fit
    their 2-10 keV Chandra/XMM/ROSAT counts with norm = 5300 deg^-2,
    flux_pivot = 2e-15, flux_break = 4.5e-15 erg cm^-2 s^-1, a1 = 1.57,
    a2 = 0.44. The inverse (for drawing fluxes) is interpolated on a dense
    logarithmic grid (relative flux error < 1e-6).

    Parameters
    ----------
    norm_deg2 : float
        Normalisation, deg^-2.
    flux_pivot, flux_break : float
        Pivot and break fluxes, erg cm^-2 s^-1.
    slope_bright, slope_faint : float
        Positive cumulative slopes.
    flux_min, flux_max : float
        Default flux range, erg cm^-2 s^-1.
    """

    def __init__(self, norm_deg2, flux_pivot, flux_break, slope_bright, slope_faint,
                 flux_min, flux_max):
        super().__init__(flux_min, flux_max)
        self.norm_deg2 = float(norm_deg2)
        self.flux_pivot = float(flux_pivot)
        self.flux_break = float(flux_break)
        self.slope_bright = float(slope_bright)
        self.slope_faint = float(slope_faint)
        if not (self.norm_deg2 > 0 and self.flux_pivot > 0 and self.flux_break > 0):
            raise ValueError("smooth broken power law needs norm_deg2, flux_pivot, "
                             "flux_break > 0")
        if not self.slope_bright > self.slope_faint > 0:
            raise ValueError(
                f"smooth broken power law needs slope_bright > slope_faint > 0, got "
                f"slope_bright={self.slope_bright}, slope_faint={self.slope_faint}")
        lo, hi = min(self.flux_min, self.flux_break) / 1e3, max(self.flux_max, 1e-6)
        self._log_s = np.linspace(np.log(lo), np.log(hi), 20001)
        self._log_n = np.log(self.n_gt_s(np.exp(self._log_s)))

    def n_gt_s(self, flux):
        s = np.asarray(flux, dtype=float)
        a1, a2 = self.slope_bright, self.slope_faint
        return (self.norm_deg2 * self.flux_pivot ** a1
                / (s ** a1 + self.flux_break ** (a1 - a2) * s ** a2))

    def _flux_at(self, n_gt_s):
        x = np.log(np.asarray(n_gt_s, dtype=float))
        return np.exp(np.interp(x, self._log_n[::-1], self._log_s[::-1]))

    def __repr__(self):
        return (f"SmoothBrokenPowerLawCounts(norm_deg2={self.norm_deg2:g}, "
                f"flux_pivot={self.flux_pivot:g}, flux_break={self.flux_break:g}, "
                f"slope_bright={self.slope_bright:g}, slope_faint={self.slope_faint:g}, "
                f"flux_min={self.flux_min:g}, flux_max={self.flux_max:g})")


class TabulatedCounts(CountsModel):
    """Cumulative counts from a table, linear interpolation in log S - log N.

    Outside the table the end segments are extrapolated as power laws.

    Parameters
    ----------
    flux : array_like
        Strictly increasing fluxes, erg cm^-2 s^-1 (at least two).
    n_gt_s : array_like
        Strictly decreasing, positive N(>S), deg^-2.
    flux_min, flux_max : float, optional
        Default flux range (default: the table's first and last flux).
    """

    def __init__(self, flux, n_gt_s, flux_min=None, flux_max=None):
        s = np.asarray(flux, dtype=float)
        n = np.asarray(n_gt_s, dtype=float)
        if s.ndim != 1 or s.shape != n.shape or s.size < 2:
            raise ValueError("counts table needs two 1-D columns of equal length >= 2")
        if np.any(s <= 0) or np.any(n <= 0):
            raise ValueError("counts table: flux and n_gt_s must be > 0")
        if np.any(np.diff(s) <= 0) or np.any(np.diff(n) >= 0):
            raise ValueError(
                "counts table: flux must increase strictly and n_gt_s decrease strictly"
            )
        super().__init__(s[0] if flux_min is None else flux_min,
                         s[-1] if flux_max is None else flux_max)
        self._log_s = np.log(s)
        self._log_n = np.log(n)

    @classmethod
    def from_file(cls, path, flux_min=None, flux_max=None) -> TabulatedCounts:
        """Read a table with columns ``flux`` and ``n_gt_s`` (CSV, ECSV or FITS).

        Errors name the file and the offending line (CSV: the line of the
        file; FITS: the row): a flux outside
        [:data:`TABLE_FLUX_RANGE`] erg cm^-2 s^-1 (a unit slip such as
        mCrab or counts), a non-positive N(>S), fluxes not strictly
        increasing or N(>S) not strictly decreasing.
        """
        path = Path(path)
        csv = path.suffix == ".csv"
        try:
            tab = Table.read(path, format="ascii.csv", comment="#") if csv else Table.read(path)
        except Exception as exc:
            raise ValueError(f"cannot read logN-logS table {path}: {exc}") from exc
        missing = [c for c in ("flux", "n_gt_s") if c not in tab.colnames]
        if missing:
            raise ValueError(
                f"logN-logS table {path} lacks column(s) {', '.join(missing)} "
                f"(expected flux [erg cm^-2 s^-1], n_gt_s [deg^-2]); found {tab.colnames}"
            )
        flux = np.asarray(tab["flux"], dtype=float)
        n = np.asarray(tab["n_gt_s"], dtype=float)
        where = _table_lines(path, len(tab)) if csv else [f"row {i + 1}" for i in range(len(tab))]
        lo, hi = TABLE_FLUX_RANGE
        checks = (
            (~((flux >= lo) & (flux <= hi)),
             f"flux must lie in [{lo:g}, {hi:g}] erg cm^-2 s^-1"),
            (~(n > 0), "n_gt_s must be > 0 (deg^-2)"),
            (np.r_[False, ~(np.diff(flux) > 0)], "flux must increase strictly"),
            (np.r_[False, ~(np.diff(n) < 0)], "n_gt_s must decrease strictly"),
        )
        for bad, what in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"logN-logS table {path}, {where[i]}: {what} "
                                 f"(flux = {flux[i]:g}, n_gt_s = {n[i]:g})")
        try:
            return cls(flux, n, flux_min, flux_max)
        except ValueError as exc:
            raise ValueError(f"logN-logS table {path}: {exc}") from None

    def _interp(self, x, xp, fp):
        """Linear interpolation on increasing ``xp`` with linear end extrapolation."""
        y = np.interp(x, xp, fp)
        lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
        hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        y = np.where(x < xp[0], fp[0] + (x - xp[0]) * lo_slope, y)
        return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * hi_slope, y)

    def n_gt_s(self, flux):
        x = np.log(np.asarray(flux, dtype=float))
        return np.exp(self._interp(x, self._log_s, self._log_n))

    def _flux_at(self, n_gt_s):
        x = np.log(np.asarray(n_gt_s, dtype=float))
        return np.exp(self._interp(x, self._log_n[::-1], self._log_s[::-1]))

    def __repr__(self):
        return (f"TabulatedCounts({self._log_s.size} rows, flux_min={self.flux_min:g}, "
                f"flux_max={self.flux_max:g})")


#: Plausible range of tabulated X-ray fluxes, erg cm^-2 s^-1 (outside: a unit slip).
TABLE_FLUX_RANGE = (1e-20, 1e-6)


def _table_lines(path, n_rows: int) -> list:
    """``"line K"`` of each data row of a CSV file (comments and blank lines skipped)."""
    lines = [k for k, text in enumerate(Path(path).read_text().splitlines(), start=1)
             if text.strip() and not text.lstrip().startswith("#")]
    data = lines[1:]                                  # the first line is the header
    return [f"line {data[i]}" if i < len(data) else f"row {i + 1}" for i in range(n_rows)]


_BPL_KEYS = ("norm_deg2", "flux_ref", "flux_break", "slope_bright", "slope_faint",
             "flux_min", "flux_max")
_SMOOTH_KEYS = ("norm_deg2", "flux_pivot", "flux_break", "slope_bright", "slope_faint",
                "flux_min", "flux_max")
#: Counts-model shapes of :func:`counts_model_from_config`: class and required keys.
COUNTS_SHAPES = {
    "broken_power_law": (BrokenPowerLawCounts, _BPL_KEYS),
    "smooth_broken_power_law": (SmoothBrokenPowerLawCounts, _SMOOTH_KEYS),
}


def counts_model_from_config(cfg: dict, base_dir=None, where: str = "lognlogs") -> CountsModel:
    """Build a counts model from a configuration mapping.

    Parameters
    ----------
    cfg : dict
        ``{shape: broken_power_law, norm_deg2, flux_ref, flux_break,
        slope_bright, slope_faint, flux_min, flux_max}``
        (:class:`BrokenPowerLawCounts`; the default shape),
        ``{shape: smooth_broken_power_law, norm_deg2, flux_pivot, flux_break,
        slope_bright, slope_faint, flux_min, flux_max}``
        (:class:`SmoothBrokenPowerLawCounts`), or ``{table: path, flux_min:
        ..., flux_max: ...}`` for a :class:`TabulatedCounts` (columns
        ``flux``, ``n_gt_s``; the range keys are optional and default to the
        table ends). Other keys (e.g. ``band_kev``) are the caller's.
    base_dir : path-like, optional
        Directory against which a relative ``table`` path is resolved.
    where : str
        Name of the configuration section, used in error messages.

    Returns
    -------
    CountsModel
    """
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(cfg).__name__}")
    if "table" in cfg:
        path = Path(cfg["table"])
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return TabulatedCounts.from_file(path, cfg.get("flux_min"), cfg.get("flux_max"))
    shape = cfg.get("shape", "broken_power_law")
    if shape not in COUNTS_SHAPES:
        raise ValueError(f"{where}.shape: unknown shape {shape!r}; expected one of "
                         f"{', '.join(COUNTS_SHAPES)} (or give 'table: path')")
    model, keys = COUNTS_SHAPES[shape]
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise ValueError(
            f"{where}: missing key(s) {', '.join(missing)} (a {shape} needs "
            f"{', '.join(keys)}; or give 'table: path')"
        )
    try:
        return model(**{k: float(cfg[k]) for k in keys})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- geometry
def tangent_to_sky(xi_deg, eta_deg, center_deg):
    """Gnomonic (TAN) deprojection of tangent-plane offsets.

    Parameters
    ----------
    xi_deg, eta_deg : array_like
        Tangent-plane coordinates in degrees, ``xi`` towards east (increasing
        RA), ``eta`` towards north.
    center_deg : (float, float)
        Tangent point (RA, Dec), degrees.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, RA in [0, 360).
    """
    ra0, dec0 = np.radians(center_deg[0]), np.radians(center_deg[1])
    xi, eta = np.radians(xi_deg), np.radians(eta_deg)
    denom = np.cos(dec0) - eta * np.sin(dec0)
    ra = ra0 + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def sky_to_tangent(ra_deg, dec_deg, center_deg):
    """Gnomonic (TAN) projection, inverse of :func:`tangent_to_sky` (degrees)."""
    ra0, dec0 = np.radians(center_deg[0]), np.radians(center_deg[1])
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cosc = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cosc
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cosc
    return np.degrees(xi), np.degrees(eta)


def _half_sizes_rad(size_arcmin) -> tuple[float, float]:
    size = np.broadcast_to(np.asarray(size_arcmin, dtype=float), (2,))
    if np.any(size <= 0):
        raise ValueError(f"region size must be > 0 arcmin, got {size_arcmin}")
    return 0.5 * size[0] * _ARCMIN_RAD, 0.5 * size[1] * _ARCMIN_RAD


def region_area_deg2(size_arcmin) -> float:
    """Solid angle (deg^2) of a square/rectangular tangent-plane region.

    ``Omega = 4 arcsin(sin(a) sin(b))`` with ``tan a``, ``tan b`` the half
    sides in the tangent plane.

    Parameters
    ----------
    size_arcmin : float or (float, float)
        Side(s) of the region measured in the tangent plane, arcmin.
    """
    hx, hy = _half_sizes_rad(size_arcmin)
    sa, sb = hx / np.hypot(1.0, hx), hy / np.hypot(1.0, hy)
    return float(4.0 * np.arcsin(sa * sb) * _SR_TO_DEG2)


def draw_positions(rng, n: int, center_deg, size_arcmin):
    """Positions uniform on the sphere inside a tangent-plane square.

    Points are drawn uniformly in the tangent-plane rectangle and accepted
    with probability ``(1 + r^2)^-3/2`` (the solid angle per unit
    tangent-plane area, r in radians), which makes them uniform on the sky.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    n : int
        Number of positions.
    center_deg : (float, float)
        Tangent point (RA, Dec), degrees.
    size_arcmin : float or (float, float)
        Side(s) of the region in the tangent plane, arcmin.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, shape ``(n,)``.
    """
    hx, hy = _half_sizes_rad(size_arcmin)
    xi, eta = _accept_uniform_sphere(
        rng, int(n), lambda m: (rng.uniform(-hx, hx, m), rng.uniform(-hy, hy, m))
    )
    return tangent_to_sky(np.degrees(xi), np.degrees(eta), center_deg)


def _accept_uniform_sphere(rng, n, propose, density=None):
    """Rejection loop: ``propose(m)`` gives m candidates; keep with prob density/1."""
    xs, ys, have = [], [], 0
    while have < n:
        m = max(16, int(1.05 * (n - have)) + 16)
        x, y = propose(m)
        w = (1.0 + x**2 + y**2) ** -1.5 if density is None else density(x, y)
        keep = rng.random(m) < w
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _is_tan(wcs) -> bool:
    return all(str(c).upper().endswith("-TAN") for c in list(wcs.celestial.wcs.ctype)[:2])


def _plane_radius_rad(wcs, x0, y0):
    """Tangent-plane distance (radians) of 0-based pixel positions from the reference point."""
    m = wcs.celestial.pixel_scale_matrix
    crpix = wcs.celestial.wcs.crpix - 1.0
    dx, dy = x0 - crpix[0], y0 - crpix[1]
    px = m[0, 0] * dx + m[0, 1] * dy
    py = m[1, 0] * dx + m[1, 1] * dy
    return np.radians(np.hypot(px, py))


def mask_area_deg2(wcs, mask) -> float:
    """Solid angle (deg^2) of the allowed pixels of a mask.

    For a TAN projection every pixel counts ``pixel area * (1 + r^2)^-3/2``
    (r = tangent-plane distance of its centre from the reference point, in
    radians); for other projections the pixels are taken as equal-area.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the mask.
    mask : numpy.ndarray of bool
        Allowed pixels, numpy order ``mask[y, x]``.
    """
    mask = np.asarray(mask, dtype=bool)
    pix_area = abs(np.linalg.det(wcs.celestial.pixel_scale_matrix))
    if not _is_tan(wcs):
        return float(mask.sum() * pix_area)
    iy, ix = np.nonzero(mask)
    r = _plane_radius_rad(wcs, ix.astype(float), iy.astype(float))
    return float(pix_area * np.sum((1.0 + r**2) ** -1.5))


def draw_positions_in_mask(rng, n: int, wcs, mask):
    """Positions uniform on the sphere within the allowed pixels of an image.

    A pixel is chosen uniformly among the allowed ones, a position uniformly
    within it, and for a TAN WCS the point is kept with probability
    ``(1 + r^2)^-3/2`` (solid angle per unit tangent-plane area), making the
    distribution exactly uniform on the sky; other projections are treated as
    equal-area per pixel.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    n : int
        Number of positions.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mask.
    mask : numpy.ndarray of bool
        Allowed pixels, numpy order ``mask[y, x]``; at least one True.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, shape ``(n,)``.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    allowed = np.flatnonzero(mask)
    if allowed.size == 0:
        raise ValueError("mask has no allowed pixel")
    nx = mask.shape[1]

    def propose(m):
        pix = allowed[rng.integers(0, allowed.size, m)]
        x = (pix % nx) + rng.uniform(-0.5, 0.5, m)
        y = (pix // nx) + rng.uniform(-0.5, 0.5, m)
        return x, y

    if _is_tan(wcs):
        def density(x, y):
            return (1.0 + _plane_radius_rad(wcs, x, y) ** 2) ** -1.5
    else:
        def density(x, y):
            return np.ones_like(x)

    x, y = _accept_uniform_sphere(rng, int(n), propose, density)
    ra, dec = wcs.celestial.wcs_pix2world(x, y, 0)
    return np.asarray(ra, dtype=float) % 360.0, np.asarray(dec, dtype=float)


def draw_sources(rng, model: CountsModel, *, center_deg=None, size_arcmin=None, wcs=None,
                 mask=None, flux_min=None, flux_max=None, first_id: int = 1) -> Table:
    """Draw a mock source list: Poisson number, fluxes from ``model``, uniform positions.

    Give either a tangent-plane square (``center_deg`` and ``size_arcmin``) or
    a WCS with a boolean ``mask`` of allowed pixels. The number of sources is
    Poisson with mean ``model.expected_number(area, flux_min, flux_max)``.
    Draw order on ``rng``: number, fluxes, positions.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    model : CountsModel
        Cumulative number counts (reference band).
    center_deg : (float, float), optional
        Tangent point of the square region (RA, Dec), degrees.
    size_arcmin : float or (float, float), optional
        Side(s) of the square region, arcmin.
    wcs : astropy.wcs.WCS, optional
        Celestial WCS of ``mask``.
    mask : numpy.ndarray of bool, optional
        Allowed pixels, ``mask[y, x]``.
    flux_min, flux_max : float, optional
        Flux range, erg cm^-2 s^-1 (default: the model's).
    first_id : int
        Id of the first source; ids are consecutive.

    Returns
    -------
    astropy.table.Table
        Columns ``id`` (int64), ``ra``, ``dec`` (deg), ``flux``
        (erg cm^-2 s^-1, reference band); ``meta`` holds ``AREA`` (deg^2) and
        ``EXPECTED`` (mean number).
    """
    square = center_deg is not None or size_arcmin is not None
    masked = wcs is not None or mask is not None
    if square == masked or (square and (center_deg is None or size_arcmin is None)) or (
        masked and (wcs is None or mask is None)
    ):
        raise ValueError("draw_sources needs either center_deg and size_arcmin, or wcs and mask")
    area = region_area_deg2(size_arcmin) if square else mask_area_deg2(wcs, mask)
    mu = float(model.expected_number(area, flux_min, flux_max))
    n = int(rng.poisson(mu))
    flux = model.draw_fluxes(rng, n, flux_min, flux_max)
    if square:
        ra, dec = draw_positions(rng, n, center_deg, size_arcmin)
    else:
        ra, dec = draw_positions_in_mask(rng, n, wcs, mask)
    tab = Table(
        {
            "id": np.arange(first_id, first_id + n, dtype=np.int64),
            "ra": ra,
            "dec": dec,
            "flux": flux,
        },
        meta={"AREA": area, "EXPECTED": mu},
    )
    tab["ra"].unit = tab["dec"].unit = "deg"
    tab["flux"].unit = "erg / (cm2 s)"
    return tab
