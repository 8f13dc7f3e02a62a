"""Radial point-spread functions.

A PSF here is circularly symmetric and energy independent. It is described
either by analytic components (Gaussian and King profiles, weights summing to
one) or by a user-supplied encircled-energy table. Every PSF offers the
encircled-energy fraction EEF(r), the surface brightness, a 2-D kernel on a
pixel grid and the fraction of a source's counts that fall in an aperture
centred elsewhere (needed for deblending, method.md §5).

Radii are in arcsec throughout; surface brightness in fraction per arcsec^2.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq


def disc_quadrature(radius: float, n_radial: int = 48, n_azimuth: int = 96):
    """Nodes and area weights of a polar product rule over a disc.

    Gauss-Legendre in radius (``n_radial`` nodes) times the midpoint rule in
    azimuth (``n_azimuth`` nodes): ``sum_k w_k f(x_k, y_k)`` approximates
    ``integral over the disc of f d^2x``; the weights sum to the disc area.

    Parameters
    ----------
    radius : float
        Disc radius (any length unit; the nodes are in the same unit).
    n_radial, n_azimuth : int
        Nodes in radius and azimuth.

    Returns
    -------
    x, y : numpy.ndarray, shape (n_radial * n_azimuth,)
        Node offsets from the disc centre.
    weight : numpy.ndarray
        Area weights (unit^2).
    """
    xr, wr = np.polynomial.legendre.leggauss(n_radial)
    rad = 0.5 * radius * (xr + 1.0)
    wrad = 0.5 * radius * wr * rad
    phi = (np.arange(n_azimuth) + 0.5) * 2 * np.pi / n_azimuth
    x = (rad[:, None] * np.cos(phi)[None, :]).ravel()
    y = (rad[:, None] * np.sin(phi)[None, :]).ravel()
    return x, y, np.repeat(wrad, n_azimuth) * (2 * np.pi / n_azimuth)


@dataclass(frozen=True)
class GaussianComponent:
    """Circular Gaussian, normalised to ``weight`` total fraction."""

    weight: float
    sigma_arcsec: float

    def eef(self, r):
        return self.weight * -np.expm1(-0.5 * (r / self.sigma_arcsec) ** 2)

    def surface_brightness(self, r):
        s2 = self.sigma_arcsec**2
        return self.weight * np.exp(-0.5 * r**2 / s2) / (2 * np.pi * s2)


@dataclass(frozen=True)
class KingComponent:
    """King profile (1 + r^2/rc^2)^-beta, beta > 1, normalised to ``weight``."""

    weight: float
    core_radius_arcsec: float
    beta: float

    def eef(self, r):
        x = 1.0 + (r / self.core_radius_arcsec) ** 2
        return self.weight * (1.0 - x ** (1.0 - self.beta))

    def surface_brightness(self, r):
        rc2 = self.core_radius_arcsec**2
        norm = (self.beta - 1.0) / (np.pi * rc2)
        return self.weight * norm * (1.0 + r**2 / rc2) ** (-self.beta)


class RadialPSF(ABC):
    """Base class: subclasses provide ``eef`` and ``surface_brightness``.

    Parameters
    ----------
    kernel_radius_arcsec : float
        Truncation radius of the 2-D kernel and of the aperture-fraction table.
    """

    def __init__(self, kernel_radius_arcsec: float):
        if not kernel_radius_arcsec > 0:
            raise ValueError(f"psf.kernel_radius_arcsec must be > 0, got {kernel_radius_arcsec}")
        self.kernel_radius_arcsec = float(kernel_radius_arcsec)
        self._aperture_tables = {}
        self._inverse_eef = None

    @abstractmethod
    def eef(self, radius_arcsec):
        """Encircled-energy fraction within ``radius_arcsec``."""

    @abstractmethod
    def surface_brightness(self, radius_arcsec):
        """Fraction of the counts per arcsec^2 at ``radius_arcsec``."""

    def radius_for_eef(self, fraction: float) -> float:
        """Radius (arcsec) enclosing ``fraction`` of the counts."""
        return brentq(lambda r: self.eef(r) - fraction, 1e-6, 1e5)

    def half_power_diameter(self) -> float:
        """Half-power diameter in arcsec."""
        return 2.0 * self.radius_for_eef(0.5)

    def fwhm(self) -> float:
        """Full width at half maximum of the surface brightness, arcsec."""
        peak = self.surface_brightness(0.0)
        return 2.0 * brentq(lambda r: self.surface_brightness(r) - 0.5 * peak, 1e-6, 1e4)

    def kernel(self, pixel_arcsec: float, oversample: int = 5) -> np.ndarray:
        """PSF image on a square pixel grid, source at the central pixel centre.

        Each pixel holds the fraction of the source counts that fall in it,
        integrated on an ``oversample`` x ``oversample`` sub-grid. Pixels whose
        centre lies beyond ``kernel_radius_arcsec`` are zero, and the kernel is
        scaled so that its sum equals EEF(kernel_radius_arcsec): counts that
        the truncation drops are not redistributed into the core, so aperture
        counts stay exact.

        Parameters
        ----------
        pixel_arcsec : float
            Pixel size in arcsec.
        oversample : int
            Sub-pixels per pixel side.

        Returns
        -------
        numpy.ndarray
            Odd-sized square float64 array.
        """
        half = int(np.ceil(self.kernel_radius_arcsec / pixel_arcsec))
        n = 2 * half + 1
        sub = (np.arange(n * oversample) + 0.5) / oversample - n / 2.0
        xx, yy = np.meshgrid(sub, sub)
        r = np.hypot(xx, yy) * pixel_arcsec
        sub_area = (pixel_arcsec / oversample) ** 2
        img = self.surface_brightness(r) * sub_area
        img = img.reshape(n, oversample, n, oversample).sum(axis=(1, 3))
        centre = (np.arange(n) - half) * pixel_arcsec
        cx, cy = np.meshgrid(centre, centre)
        img[np.hypot(cx, cy) > self.kernel_radius_arcsec] = 0.0
        return img * (self.eef(self.kernel_radius_arcsec) / img.sum())

    def inverse_eef_table(self):
        """Tables ``(eef, radius_arcsec)`` mapping uniform deviates to PSF radii.

        ``numpy.interp(u, eef, radius)`` with ``u`` uniform in
        ``[0, EEF(kernel_radius)]`` draws radii of the PSF truncated at the
        kernel radius (counts beyond it are dropped, as in :meth:`kernel`).
        """
        if self._inverse_eef is None:
            r = np.concatenate([[0.0], np.geomspace(1e-3, self.kernel_radius_arcsec, 4000)])
            e = np.maximum.accumulate(np.asarray(self.eef(r), dtype=float))
            self._inverse_eef = (e, r)
        return self._inverse_eef

    def aperture_fraction(self, separation_arcsec, aperture_arcsec: float):
        """Fraction of a source's counts inside a circle centred elsewhere.

        ``A(d) = integral over the aperture of PSF(|x - d|) d^2x`` for a source
        at separation ``d`` from the aperture centre; ``A(0) = EEF(aperture)``.
        Computed once per aperture radius on a table of separations (polar
        Gauss-Legendre quadrature over the aperture) and interpolated.

        Parameters
        ----------
        separation_arcsec : array_like
            Source-to-aperture-centre distances, arcsec.
        aperture_arcsec : float
            Aperture radius, arcsec.

        Returns
        -------
        numpy.ndarray
            Fractions in [0, 1], zero beyond the kernel radius plus aperture.
        """
        table = self._aperture_tables
        key = float(aperture_arcsec)
        if key not in table:
            d = np.arange(0.0, self.kernel_radius_arcsec + key + 1.0, 0.5)
            px, py, w = disc_quadrature(key)
            dist = np.hypot(px[None, :] - d[:, None], py[None, :])
            frac = (self.surface_brightness(dist) * w[None, :]).sum(axis=1)
            frac[0] = self.eef(key)
            table[key] = (d, frac)
        d, frac = table[key]
        return np.interp(np.asarray(separation_arcsec, dtype=float), d, frac, right=0.0)


class ComponentPSF(RadialPSF):
    """Sum of analytic Gaussian / King components."""

    def __init__(self, components, kernel_radius_arcsec: float):
        super().__init__(kernel_radius_arcsec)
        self.components = tuple(components)
        total = sum(c.weight for c in self.components)
        if not np.isclose(total, 1.0, atol=1e-4):
            raise ValueError(f"psf.components weights must sum to 1, got {total:.6f}")

    def eef(self, radius_arcsec):
        r = np.asarray(radius_arcsec, dtype=float)
        return sum(c.eef(r) for c in self.components)

    def surface_brightness(self, radius_arcsec):
        r = np.asarray(radius_arcsec, dtype=float)
        return sum(c.surface_brightness(r) for c in self.components)


class TabulatedPSF(RadialPSF):
    """PSF given as an encircled-energy table (monotone cubic interpolation).

    The surface brightness is dEEF/dr / (2 pi r).
    """

    def __init__(self, radius_arcsec, eef, kernel_radius_arcsec: float):
        super().__init__(kernel_radius_arcsec)
        r = np.asarray(radius_arcsec, dtype=float)
        e = np.asarray(eef, dtype=float)
        if r[0] != 0.0:
            r, e = np.concatenate([[0.0], r]), np.concatenate([[0.0], e])
        if np.any(np.diff(r) <= 0) or np.any(np.diff(e) < 0) or e[-1] > 1.0 + 1e-6:
            raise ValueError("PSF EEF table must have increasing radius and a non-decreasing "
                             "EEF not above 1")
        self._interp = PchipInterpolator(r, e, extrapolate=False)
        self._deriv = self._interp.derivative()
        self._rmax, self._emax = r[-1], e[-1]

    def eef(self, radius_arcsec):
        r = np.asarray(radius_arcsec, dtype=float)
        return np.where(r >= self._rmax, self._emax, np.nan_to_num(self._interp(r)))

    def surface_brightness(self, radius_arcsec):
        r = np.asarray(radius_arcsec, dtype=float)
        rr = np.maximum(r, 1e-3)
        sb = np.nan_to_num(self._deriv(rr)) / (2 * np.pi * rr)
        return np.where(r >= self._rmax, 0.0, sb)


def psf_from_config(cfg: dict, base_dir=None) -> RadialPSF:
    """Build a PSF from the ``psf`` section of an instrument YAML.

    Parameters
    ----------
    cfg : dict
        Either ``{components: [...], kernel_radius_arcsec}`` or
        ``{eef_table: path, kernel_radius_arcsec}``.
    base_dir : path-like, optional
        Directory against which a relative ``eef_table`` path is resolved.
    """


    radius = cfg.get("kernel_radius_arcsec", 300.0)
    if "eef_table" in cfg:
        path = Path(cfg["eef_table"])
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        tab = Table.read(path)
        for col in ("radius_arcsec", "eef"):
            if col not in tab.colnames:
                raise ValueError(f"{path}: PSF EEF table lacks column '{col}'")
        return TabulatedPSF(tab["radius_arcsec"], tab["eef"], radius)
    comps = []
    for i, c in enumerate(cfg.get("components", [])):
        kind = c.get("profile")
        if kind == "gaussian":
            comps.append(GaussianComponent(c["weight"], c["sigma_arcsec"]))
        elif kind == "king":
            comps.append(KingComponent(c["weight"], c["core_radius_arcsec"], c["beta"]))
        else:
            raise ValueError(f"psf.components[{i}].profile must be 'gaussian' or 'king', "
                             f"got {kind!r}")
    if not comps:
        raise ValueError("psf needs 'components' or 'eef_table'")
    return ComponentPSF(comps, radius)
