"""Cumulative number counts N(>S) of the source population: broken and smooth
broken power laws, tabulated counts (method.md §7.1)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from astropy.table import Table


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
