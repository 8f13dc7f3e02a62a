"""Source detection, DET_ML and deblending (method.md §4-5).

The detection of one band of one mosaic is split in two parts so that the
thousands of simulated replicas (method.md §7) pay only for what changes:

* :class:`Detector` is built once per mosaic and band from the exposure map,
  the WCS, the instrument and the parameters. It holds the exposure mask, the
  top-hat summation (exact integer running sums, and the FFT of the kernel
  for non-integer maps), the smoothed background, the per-pixel detection
  threshold in smoothed counts (exact integers for integer counts maps),
  work grids for the peak search, and the aperture and deblending geometry.
* :meth:`Detector.detect` then takes a counts map (and optionally another
  background map) and returns the deblended catalogue of the band.

:func:`detect_sources` does both in one call.

Method
------
1. Counts and background are multiplied by the exposure mask (exposure > 0)
   and summed in a circular top-hat (pixels whose centre lies within the
   smoothing radius, default the 20" photometry aperture). Both maps see
   exactly the same masked kernel, so a partial aperture at the edge of the
   exposure compares partial counts with partial background and creates no
   false peaks. Integer counts maps are summed exactly in integer
   arithmetic (:class:`RunSum`); other maps by FFT convolution
   (:class:`FFTConvolver`; floats holding integers are rounded back).
2. ``-log10 P_false`` with ``P_false = gammainc(a, x)`` (regularised lower
   incomplete gamma, the Poisson probability of >= a counts from a mean x),
   ``a`` the smoothed counts and ``x`` the smoothed background, evaluated in
   log space (:func:`log_poisson_tail`): never saturates.
3. Peaks: connected regions of ``-log10 P >= threshold`` (8-connected),
   separated by Source Extractor's multi-threshold deblending
   (:func:`find_peaks`, the algorithm of ``sep.extract`` with no filtering
   and no cleaning, re-implemented so that it is deterministic; the tree of
   all sub-thresholds is built in one pass of a compiled union-find over the
   pixels above the threshold, so that it stays fast on crowded maps whose
   regions are large and hold many peaks). The position of a
   detection is the pixel of the maximum of ``-log10 P`` in its deblended
   branch (never a centroid), refined by a 3-point parabola in x and in y
   through the exact ``-log10 P`` values (shift limited to half a pixel;
   optional).
4. Detections whose exposure (value at the position) is below the exposure
   floor are dropped.
5. Photometry in the aperture (exact sub-pixel sums, :mod:`xsurvey.detect.photometry`),
   deblending (:func:`deblend`) and DET_ML (:func:`det_ml`).

Only pixels above the threshold are evaluated: ``gammainc(a, x)`` decreases
with ``a``, so for integer smoothed counts the test ``-log10 P_false >=
threshold`` is exactly ``a >= n_thr(x)`` with the integer threshold counts
of the smoothed background (:func:`integer_threshold_counts`, precomputed
per background). Non-integer counts are first compared with a lower bound
``a_thr(x)`` (:func:`threshold_counts`) and the survivors evaluated. The
search ignores every pixel below the threshold, so this changes no
detection; :meth:`Detector.significance` gives the full map when it is
wanted for display.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

import numpy as np
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales

from xsurvey.detect.columns import detection_table, empty_detection_columns
from xsurvey.detect.deblend import deblend
from xsurvey.detect.peaks import _deblended_peaks, suppress_close_peaks
from xsurvey.detect.photometry import (
    Aperture,
    aperture_sums,
    count_rate,
    net_errors,
    signal_to_noise,
    value_at,
)
from xsurvey.detect.poisson import (
    ThresholdTailTable,
    det_ml,
    integer_threshold_counts,
    neg_log10_pfalse,
    threshold_counts,
)
from xsurvey.detect.smoothing import FFTConvolver, PixelGrids, RunSum, tophat_kernel

log = logging.getLogger(__name__)


def detection_parameters(cfg: dict):
    """:class:`xsurvey.detect.DetectionParameters` from the ``detection`` config section
    (other keys, such as ``figure_bands``, are not the detector's)."""
    names = {f.name for f in fields(DetectionParameters)}
    return DetectionParameters(**{k: v for k, v in cfg.items() if k in names})


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectionParameters:
    """Parameters of the detection of one band (defaults: method.md §4).

    Attributes
    ----------
    threshold_log10 : float
        Detection threshold on ``-log10 P_false`` (2.5).
    exposure_floor_ks : float
        Detections where the exposure is below this are dropped, ks (20).
    smoothing_radius_arcsec : float or None
        Top-hat radius; None = the instrument's aperture radius (20").
    aperture_radius_arcsec : float or None
        Photometry/DET_ML aperture; None = instrument aperture radius (20").
    deblend_radius_arcsec : float or None
        Neighbours closer than this are deblended; None = instrument (90").
    minarea : int
        Minimum number of connected pixels above the threshold (sep).
    deblend_nthresh : int
        Number of sub-thresholds of sep's deblending.
    deblend_cont : float
        Minimum contrast of sep's deblending (fraction of the parent's summed
        ``-log10 P`` that a branch must hold; 1 disables peak separation).
    min_separation_arcsec : float
        Of peaks closer than this only the highest is kept
        (:func:`suppress_close_peaks`); 0 keeps all. Default 20", the
        aperture and top-hat radius (the PSF FWHM is 18"): the apertures of
        two such peaks overlap by more than half, and the smoothed map of
        one faint source often has sub-peaks that close.
    subpixel : bool
        Refine peak positions with a 3-point parabola in x and y.
    fft_workers : int
        Threads for scipy.fft.
    """

    threshold_log10: float = 2.5
    exposure_floor_ks: float = 20.0
    smoothing_radius_arcsec: float | None = None
    aperture_radius_arcsec: float | None = None
    deblend_radius_arcsec: float | None = None
    minarea: int = 1
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    min_separation_arcsec: float = 20.0
    subpixel: bool = True
    fft_workers: int = 1

    def __post_init__(self):
        if not self.threshold_log10 > 0:
            raise ValueError(f"threshold_log10 must be > 0, got {self.threshold_log10}")
        if self.exposure_floor_ks < 0:
            raise ValueError(f"exposure_floor_ks must be >= 0, got {self.exposure_floor_ks}")
        for name in ("smoothing_radius_arcsec", "aperture_radius_arcsec",
                     "deblend_radius_arcsec"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if int(self.minarea) < 1:
            raise ValueError(f"minarea must be >= 1, got {self.minarea}")
        if not 0 < self.deblend_cont <= 1:
            raise ValueError(f"deblend_cont must be in (0, 1], got {self.deblend_cont}")
        if not self.min_separation_arcsec >= 0:
            raise ValueError(
                f"min_separation_arcsec must be >= 0, got {self.min_separation_arcsec}")


def pixel_scale_arcsec(wcs) -> float:
    """Pixel size (arcsec) of a celestial WCS with square pixels.

    Raises
    ------
    ValueError
        If the pixels are not square to 0.1%.
    """
    scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
    if not np.isclose(scales[0], scales[1], rtol=1e-3):
        raise ValueError(f"mosaic WCS pixels are not square: {scales[0]:.5g}\" x "
                         f"{scales[1]:.5g}\" (expected equal sides)")
    return float(np.mean(scales))


def _bounding_slices(mask: np.ndarray):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


class Detector:
    """Detection, photometry and deblending of one band of one mosaic.

    Build once per mosaic (exposure, WCS, band, parameters, and usually the
    background); call :meth:`detect` for every counts map (the real data or
    a replica). Integer counts maps (any integer dtype, or floats holding
    integers) take the fast exact path; a Detector reuses work arrays
    between calls, so one instance must not be shared between threads.

    Parameters
    ----------
    exposure : array_like, shape (ny, nx)
        Exposure map, s (modules summed); pixels <= 0 (or NaN) are masked.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mosaic (square pixels).
    instrument : xsurvey.instrument.Instrument
        PSF, aperture and deblending radii, CF.
    band : str
        Band name (for the CF and the table metadata).
    background : array_like, optional
        Background map (expected counts per pixel). Smoothed now, so that
        :meth:`detect` can be called with counts only.
    params : DetectionParameters, optional
        Defaults of method.md §4; keyword arguments override single fields.
    """

    def __init__(self, exposure, wcs, instrument, band: str, background=None,
                 params: DetectionParameters | None = None, **overrides):
        params = replace(params or DetectionParameters(), **overrides)
        self.params = params
        self.instrument = instrument
        self.band = band
        self.wcs = wcs.celestial
        self.exposure = np.asarray(exposure, dtype=np.float64)
        if self.exposure.ndim != 2:
            raise ValueError(f"exposure must be a 2-D map, got shape {self.exposure.shape}")
        self.shape = self.exposure.shape
        self.pixel_arcsec = pixel_scale_arcsec(self.wcs)
        self.smoothing_radius_arcsec = float(params.smoothing_radius_arcsec
                                             or instrument.aperture_radius_arcsec)
        self.aperture_radius_arcsec = float(params.aperture_radius_arcsec
                                            or instrument.aperture_radius_arcsec)
        self.deblend_radius_arcsec = float(params.deblend_radius_arcsec
                                           or instrument.deblend_radius_arcsec)
        self.aperture = Aperture.from_instrument(
            instrument, band, self.pixel_arcsec, self.aperture_radius_arcsec)
        # Warm the PSF aperture-fraction table (computed once per radius).
        instrument.psf.aperture_fraction(0.0, self.aperture_radius_arcsec)

        self.mask = np.isfinite(self.exposure) & (self.exposure > 0)
        self.kernel = tophat_kernel(self.smoothing_radius_arcsec / self.pixel_arcsec)
        half = self.kernel.shape[0] // 2
        rs, cs = _bounding_slices(self.mask)
        # Crop to the exposed area plus the kernel half-width (zeros beyond).
        self._crop = (slice(max(rs.start - half, 0), min(rs.stop + half, self.shape[0])),
                      slice(max(cs.start - half, 0), min(cs.stop + half, self.shape[1])))
        self._origin = (self._crop[0].start, self._crop[1].start)
        self._mask_c = np.ascontiguousarray(self.mask[self._crop])
        self._convolver = FFTConvolver(self._mask_c.shape, self.kernel, params.fft_workers)
        self._runsum = (RunSum(self._mask_c.shape, self.kernel)
                        if RunSum.applies(self.kernel) else None)
        self._grids = PixelGrids(self._mask_c.shape)
        self.meta = {
            "BAND": band,
            "DETTHR": (params.threshold_log10, "threshold on -log10 P_false"),
            "EXPFLOOR": (params.exposure_floor_ks, "exposure floor, ks"),
            "SMOOTHR": (self.smoothing_radius_arcsec, "top-hat radius, arcsec"),
            "APERTURE": (self.aperture_radius_arcsec, "aperture radius, arcsec"),
            "DEBLENDR": (self.deblend_radius_arcsec, "deblending radius, arcsec"),
            "MINSEP": (params.min_separation_arcsec, "minimum peak separation, arcsec"),
            "EEF": (self.aperture.eef, "PSF encircled-energy fraction of the aperture"),
            "CF": (self.aperture.cf, "count-rate-to-flux factor, erg/cm2/count"),
        }
        self._bkg_key = None
        if background is not None:
            self.set_background(background)

    # -- maps ----------------------------------------------------------------
    def _cropped(self, image, what: str) -> np.ndarray:
        image = np.asarray(image)
        if image.shape != self.shape:
            raise ValueError(f"{what} map has shape {image.shape}, expected {self.shape} "
                             f"(the exposure map's)")
        return np.where(self._mask_c, image[self._crop], 0.0).astype(np.float64, copy=False)

    def _integer_cropped(self, image, what: str):
        """Masked crop of an integer-valued map as an integer array (None otherwise).

        Integer dtypes, and floats that all hold integers, qualify; the
        integer type is wide enough for :class:`RunSum`.

        Returns
        -------
        (numpy.ndarray, int) or None
            The cropped integers and their largest absolute value.
        """
        raw = np.asarray(image)
        if raw.shape != self.shape:
            raise ValueError(f"{what} map has shape {raw.shape}, expected {self.shape} "
                             f"(the exposure map's)")
        if self._runsum is None or self._mask_c.size == 0:
            return None
        sub = raw[self._crop]
        if np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool:
            peak = max(int(sub.max()), -int(sub.min()), 0)
            data = np.multiply(sub, self._mask_c, dtype=self._runsum.dtype_for(peak),
                               casting="unsafe")        # |values| <= peak fit the type
            return data, peak
        if not np.issubdtype(raw.dtype, np.floating):
            return None
        data = np.where(self._mask_c, sub, 0.0)
        peak = max(float(data.max()), -float(data.min()), 0.0)
        if not np.isfinite(peak) or peak >= 2.0**62:
            return None
        ints = data.astype(self._runsum.dtype_for(peak))
        return (ints, int(peak)) if np.array_equal(ints, data) else None

    def smooth(self, image, what: str = "image") -> np.ndarray:
        """Top-hat sum of ``image`` over the exposed pixels (cropped grid).

        Integer-valued inputs (integer dtype, or floats holding integers)
        are summed exactly in integer arithmetic (:class:`RunSum`; an FFT
        rounded back to integers when the kernel is not a top-hat). Other
        inputs are convolved by FFT and negative round-off is clipped to 0.

        Returns
        -------
        numpy.ndarray
            Smoothed map (float64) on the cropped grid (see :attr:`crop`).
        """
        ints = self._integer_cropped(image, what)
        if ints is not None:
            return self._runsum(*ints).astype(np.float64)
        raw = np.asarray(image)
        data = self._cropped(raw, what)
        integral = np.issubdtype(raw.dtype, np.integer) or np.array_equal(data, np.rint(data))
        if not integral and not np.all(np.isfinite(data)):
            n = int(np.count_nonzero(~np.isfinite(data)))
            raise ValueError(f"{what} map has {n} NaN/infinite pixels where the exposure is "
                             f"positive (expected finite values)")
        out = self._convolver(data)
        if integral:
            np.rint(out, out=out)
        else:
            np.maximum(out, 0.0, out=out)
        return out

    @property
    def crop(self):
        """Slices of the mosaic holding the exposed area plus the kernel margin."""
        return self._crop

    def set_background(self, background) -> None:
        """Smooth a background map and precompute the per-pixel threshold counts.

        Stores the smoothed background, the lower bound ``a_thr`` of
        :func:`threshold_counts` (non-integer counts maps) and the exact
        integer threshold counts of :func:`integer_threshold_counts`
        (integer counts maps), all on the cropped grid.
        """
        bkg = np.asarray(background, dtype=np.float64)
        smoothed = np.ascontiguousarray(self.smooth(bkg, "background"))
        smoothed[~self._mask_c] = 0.0
        self._bkg_key = np.ascontiguousarray(bkg).copy()
        self._bkg_sep = self._bkg_key.astype(np.float32)    # what sep reads anyway
        self._bkg_nonneg = bool(np.all(self._bkg_sep >= 0))
        self._bkg_smooth = smoothed
        athr = threshold_counts(smoothed, self.params.threshold_log10)
        athr[~self._mask_c] = np.inf
        self._athr = athr
        self._nthr = integer_threshold_counts(smoothed, self.params.threshold_log10, athr)
        self._nthr_cache = {}
        self._tail_table = ThresholdTailTable(smoothed, self._nthr)

    def _nthr_as(self, dtype):
        """Integer threshold counts as ``dtype`` for fast comparisons with kernel sums.

        Integer sums from :class:`RunSum` stay below the dtype's maximum, so
        thresholds clipped to it (including ``inf``: no detection possible)
        compare exactly like the float64 ones.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "i" or dtype.itemsize >= 8:
            return self._nthr
        if dtype not in self._nthr_cache:
            top = np.iinfo(dtype).max
            self._nthr_cache[dtype] = np.minimum(self._nthr, top).astype(dtype)
        return self._nthr_cache[dtype]

    def _use_background(self, background) -> None:
        if background is None:
            if self._bkg_key is None:
                raise ValueError("no background map: pass background= to Detector or detect()")
            return
        bkg = np.asarray(background, dtype=np.float64)
        if self._bkg_key is None or bkg.shape != self._bkg_key.shape or not np.array_equal(
                bkg, self._bkg_key):
            self.set_background(bkg)

    def significance(self, counts, background=None, full: bool = True) -> np.ndarray:
        """``-log10 P_false`` map on the full mosaic grid.

        Parameters
        ----------
        counts : array_like
            Counts map.
        background : array_like, optional
            Background map (default: the one given before).
        full : bool
            Evaluate every exposed pixel (True) or only those above the
            threshold (False; the others are 0, as in :meth:`detect`).

        Returns
        -------
        numpy.ndarray
            ``-log10 P_false`` (0 where unexposed), shape of the mosaic.
        """
        self._use_background(background)
        sig_c, _ = self._significance_cropped(counts, full)
        out = np.zeros(self.shape)
        out[self._crop] = sig_c
        return out

    def _significance_cropped(self, counts, full: bool):
        """``-log10 P_false`` on the cropped grid (and the smoothed counts)."""
        if not full:
            a, pix, sig = self._candidates(counts)
            out = np.zeros(a.shape)
            out.ravel()[pix] = sig
            return out, a
        a = self.smooth(counts, "counts")
        sig = np.zeros_like(a)
        idx = np.flatnonzero(self._mask_c & (self._bkg_smooth > 0))
        if idx.size:
            sig.ravel()[idx] = neg_log10_pfalse(a.ravel()[idx], self._bkg_smooth.ravel()[idx])
        return sig, a

    def _candidates(self, counts):
        """Pixels of the cropped grid with ``-log10 P_false >= threshold``.

        Integer counts: the smoothed counts are compared with the exact
        integer threshold counts, and ``-log10 P_false`` is evaluated on
        the pixels that pass only. Other counts: pixels below the lower
        bound ``a_thr`` are skipped, the others evaluated and tested.

        Returns
        -------
        a : numpy.ndarray
            Smoothed counts (cropped grid; integer dtype for integer maps).
        pix : numpy.ndarray of int
            Flat indices (cropped grid, increasing) of the pixels above the
            threshold.
        sig : numpy.ndarray
            Their ``-log10 P_false``.
        """
        ints = self._integer_cropped(counts, "counts")
        if ints is not None:
            # exact integer thresholds: every pixel selected is above the threshold
            a = self._runsum(*ints)
            pix = np.flatnonzero(a >= self._nthr_as(a.dtype))
            sig, direct = self._tail_table(a.ravel()[pix], pix)
            if direct.size:
                sig[direct] = neg_log10_pfalse(a.ravel()[pix[direct]],
                                               self._bkg_smooth.ravel()[pix[direct]])
            return a, pix, sig
        a = self.smooth(counts, "counts")
        pix = np.flatnonzero(a >= self._athr)
        sig = neg_log10_pfalse(a.ravel()[pix], self._bkg_smooth.ravel()[pix])
        keep = sig >= self.params.threshold_log10
        return a, pix[keep], sig[keep]

    # -- detection -----------------------------------------------------------
    def find_peaks(self, counts, background=None):
        """Peaks of ``-log10 P_false`` above the threshold (before the exposure floor).

        Returns
        -------
        x, y : numpy.ndarray
            0-based mosaic pixel positions (sub-pixel if ``params.subpixel``).
        peak : numpy.ndarray
            ``-log10 P_false`` at the peak pixel.
        """
        self._use_background(background)
        p = self.params
        a, pix, sig = self._candidates(counts)
        idx = _deblended_peaks(pix, sig, a.shape, p.threshold_log10, int(p.minarea),
                               int(p.deblend_nthresh), float(p.deblend_cont), self._grids)
        iy, ix = np.divmod(pix[idx], a.shape[1])
        keep = suppress_close_peaks(ix, iy, sig[idx], p.min_separation_arcsec / self.pixel_arcsec)
        ix, iy, peak = ix[keep], iy[keep], sig[idx[keep]]
        x, y = ix.astype(np.float64), iy.astype(np.float64)
        if p.subpixel and ix.size:
            dx, dy = self._subpixel_offsets(a, ix, iy, (pix, sig))
            x, y = x + dx, y + dy
        return x + self._origin[1], y + self._origin[0], peak

    def _subpixel_offsets(self, a, ix, iy, known=None):
        """Vertex of 3-point parabolas of exact ``-log10 P`` through each peak.

        ``known = (pix, sig)``: values already evaluated at flat indices
        ``pix`` (increasing) of the cropped grid, reused as they are.
        """
        ny, nx = a.shape
        off = np.array([-1, 0, 1])
        xs = np.clip(ix[:, None] + off[None, :], 0, nx - 1)
        ys = np.clip(iy[:, None] + off[None, :], 0, ny - 1)
        flat = np.concatenate([(iy[:, None] * nx + xs).ravel(), (ys * nx + ix[:, None]).ravel()])
        f = np.empty(flat.size)
        todo = np.arange(flat.size)
        if known is not None and known[0].size:
            at = np.minimum(np.searchsorted(known[0], flat), known[0].size - 1)
            hit = known[0][at] == flat
            f[hit] = known[1][at[hit]]
            todo = np.flatnonzero(~hit)
        f[todo] = neg_log10_pfalse(a.ravel()[flat[todo]], self._bkg_smooth.ravel()[flat[todo]])
        fx, fy = f[:xs.size].reshape(xs.shape), f[xs.size:].reshape(ys.shape)

        def vertex(f):
            curv = f[:, 0] - 2.0 * f[:, 1] + f[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                d = 0.5 * (f[:, 0] - f[:, 2]) / curv
            # Stay inside the peak pixel (so its exposure is the one reported).
            return np.where((curv < 0) & np.isfinite(d), np.clip(d, -0.499, 0.499), 0.0)

        return vertex(fx), vertex(fy)

    def measure(self, counts, background, x, y) -> dict:
        """Photometry, deblending and DET_ML at given detection positions.

        Parameters
        ----------
        counts, background : array_like
            Counts and background maps of the mosaic.
        x, y : array_like
            0-based pixel positions of the detections (all of the band: they
            are deblended together).

        Returns
        -------
        dict of numpy.ndarray
            The :data:`DETECTION_COLUMNS`.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.size == 0:
            return empty_detection_columns()
        ap = self.aperture
        nonneg = None
        if background is self._bkg_key:          # float32 copy: sep reads float32 anyway
            background, nonneg = self._bkg_sep, self._bkg_nonneg
        n, b = aperture_sums(counts, background, x, y, ap.radius_pix, nonneg)
        t = value_at(self.exposure, x, y)
        _, b_deb = deblend(n, b, x, y, self.pixel_arcsec, self.instrument.psf,
                           self.aperture_radius_arcsec, self.deblend_radius_arcsec)
        ml = det_ml(np.concatenate([n, n]), np.concatenate([b_deb, b]))
        net = n - b_deb
        hi, lo = net_errors(n)
        rate = count_rate(net, t)
        to_flux = count_rate(1.0, t) * (ap.cf / ap.eef)
        ra, dec = self.wcs.wcs_pix2world(x, y, 0)
        return {
            "ra": np.asarray(ra, dtype=np.float64) % 360.0,
            "dec": np.asarray(dec, dtype=np.float64),
            "x": x,
            "y": y,
            "det_ml": ml[: x.size],
            "det_ml_raw": ml[x.size:],
            "exposure_ks": t / 1e3,
            "counts": n,
            "bkg": b,
            "bkg_deblended": b_deb,
            "net": net,
            "net_err_hi": hi,
            "net_err_lo": lo,
            "rate": rate,
            "flux": net * to_flux,
            "flux_err_hi": hi * to_flux,
            "flux_err_lo": lo * to_flux,
            "snr": signal_to_noise(net, n, b_deb),
        }

    def detect_arrays(self, counts, background=None) -> dict:
        """Like :meth:`detect` but returns a dict of arrays (no astropy overhead).

        Rows are sorted by decreasing ``det_ml``.
        """
        self._use_background(background)
        counts = np.asarray(counts)
        if counts.shape != self.shape:
            raise ValueError(f"counts map has shape {counts.shape}, expected {self.shape} "
                             f"(the exposure map's)")
        x, y, _ = self.find_peaks(counts)
        if x.size:
            t = value_at(self.exposure, x, y)
            keep = t >= self.params.exposure_floor_ks * 1e3
            x, y = x[keep], y[keep]
        cols = self.measure(counts, self._bkg_key, x, y)
        order = np.argsort(-cols["det_ml"], kind="stable")
        log.debug("band %s: %d detections", self.band, order.size)
        return {k: v[order] for k, v in cols.items()}

    def detect(self, counts, background=None) -> Table:
        """Detect, deblend and measure the sources of one counts map.

        Parameters
        ----------
        counts : array_like, shape (ny, nx)
            Counts map (same grid as the exposure).
        background : array_like, optional
            Background map (expected counts per pixel); default: the one
            given to the constructor or last used. A new map is smoothed
            once and reused by later calls.

        Returns
        -------
        astropy.table.Table
            One row per detection, columns :data:`DETECTION_COLUMNS` with
            units and descriptions, sorted by decreasing ``det_ml``; zero
            rows (same columns) when nothing is detected.
        """
        return detection_table(self.detect_arrays(counts, background), self.meta)


def detect_sources(counts, background, exposure, wcs, instrument, band: str,
                   params: DetectionParameters | None = None, **overrides) -> Table:
    """Detect, deblend and measure the sources of one band (method.md §4-6).

    Convenience wrapper: ``Detector(exposure, wcs, instrument, band,
    background, params, **overrides).detect(counts)``. Build a
    :class:`Detector` directly to process many counts maps of one mosaic.

    Parameters
    ----------
    counts, background, exposure : array_like, shape (ny, nx)
        Counts, expected background counts and exposure (s) mosaics.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mosaic.
    instrument : xsurvey.instrument.Instrument
    band : str
    params : DetectionParameters, optional
    **overrides
        Single :class:`DetectionParameters` fields, e.g. ``exposure_floor_ks=10``.

    Returns
    -------
    astropy.table.Table
        See :meth:`Detector.detect`.
    """
    det = Detector(exposure, wcs, instrument, band, background, params, **overrides)
    return det.detect(counts)
