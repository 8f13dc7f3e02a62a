"""The demo's truth check: catalogue sources that no true source makes real, against
NSPUR (method.md §7)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from astropy.table import Table
from scipy import stats

from xsurvey.simulate.match import match_sources


def truth_match(catalog: Table, detections_by_band: Mapping, truth: Table, wcs,
                radius_arcsec: float, expected_counts: Mapping | None = None, psf=None,
                aperture_arcsec: float = 20.0, rule: str = "flux",
                share: float = 0.25) -> dict:
    """Match catalogue sources to a known input list exactly as the replicas are matched.

    In every band all detections (not only the catalogue's) are matched
    one-to-one to the true sources (:func:`xsurvey.simulate.match_sources`
    with the replicas' rule): with ``rule="flux"`` a detection is real only
    when one true source within ``radius_arcsec`` gives at least ``share``
    of its net counts, from the true source's expected counts in the band
    (``expected_counts``) times the PSF fraction in the aperture. A
    catalogue source is true when the detection that gives its position
    (best band) is matched. This is the definition of "real" behind the
    calibration, so the number of unmatched sources compares with NSPUR.

    Parameters
    ----------
    catalog : astropy.table.Table
    detections_by_band : dict
        ``band -> detection table`` (``x, y, net``).
    truth : astropy.table.Table
        ``id, ra, dec, flux_<band>``.
    wcs : astropy.wcs.WCS
        Grid of the detections' pixel positions.
    radius_arcsec : float
        Match radius.
    expected_counts : dict, optional
        ``band -> array`` of each true source's expected total counts in the
        stack (needed by the ``flux`` rule).
    psf : xsurvey.instrument.RadialPSF, optional
        For the aperture fraction (``flux`` rule).
    aperture_arcsec : float
        Photometry aperture radius.
    rule : {"flux", "position"}
    share : float

    Returns
    -------
    dict of numpy.ndarray
        ``matched`` (bool), ``truth_id`` (-1 if unmatched), ``separation_arcsec``,
        ``input_share`` (expected counts of the matched source in the
        aperture / net counts).
    """

    pix = abs(float(wcs.wcs.cdelt[0])) * 3600.0
    tx, ty = wcs.wcs_world2pix(np.asarray(truth["ra"], float), np.asarray(truth["dec"], float), 0)
    n = len(catalog)
    out = {"matched": np.zeros(n, bool), "truth_id": np.full(n, -1, np.int64),
           "separation_arcsec": np.full(n, np.nan), "input_share": np.full(n, np.nan)}
    best = np.asarray(catalog["best_band"]).astype(str)
    for band, det in detections_by_band.items():
        rows = np.flatnonzero(best == band)
        if rows.size == 0 or len(det) == 0:
            continue
        dx, dy = np.asarray(det["x"], float), np.asarray(det["y"], float)
        mu = (np.asarray(expected_counts[band], float) if expected_counts is not None
              else np.zeros(len(truth)))
        to_truth, sep, frac = match_sources(
            dx, dy, np.asarray(det["net"], float), tx, ty, mu,
            np.asarray(truth[f"flux_{band}"]), radius_arcsec / pix,
            lambda d: psf.aperture_fraction(np.asarray(d) * pix, aperture_arcsec), rule, share)
        # the catalogue position is that of its best-band detection
        cx, cy = wcs.wcs_world2pix(np.asarray(catalog["ra"])[rows],
                                   np.asarray(catalog["dec"])[rows], 0)
        nearest = np.argmin(np.hypot(dx[None, :] - cx[:, None], dy[None, :] - cy[:, None]),
                            axis=1)
        hit = to_truth[nearest]
        out["matched"][rows] = hit >= 0
        out["truth_id"][rows] = np.where(hit >= 0, np.asarray(truth["id"])[np.maximum(hit, 0)],
                                         -1)
        out["separation_arcsec"][rows] = sep[nearest] * pix
        out["input_share"][rows] = frac[nearest]
    return out


def poisson_two_sided(observed: int, expected: float) -> float:
    """Two-sided Poisson probability of a count at least as far from ``expected``.

    ``2 min(P(N <= observed), P(N >= observed))``, at most 1: the
    consistency of a spurious count with its expectation (NSPUR).
    """

    observed, expected = int(observed), float(expected)
    if expected <= 0:
        return 1.0 if observed == 0 else 0.0
    return float(min(1.0, 2 * min(stats.poisson.cdf(observed, expected),
                                  stats.poisson.sf(observed - 1, expected))))


def stack_expected_counts(source_tables, truth: Table, bands) -> dict:
    """Expected counts of every true source in a stack, per band (demo truth).

    Parameters
    ----------
    source_tables : sequence of astropy.table.Table
        The demo's per-observation truth tables of the stack's observations
        (``id``, ``mu_<band>``: expected counts of the whole PSF in that
        observation, with its exposure, vignetting and epoch variability).
    truth : astropy.table.Table
        Truth list (``id``).
    bands : sequence of str

    Returns
    -------
    dict
        ``band -> array`` aligned with ``truth``.
    """
    ids = np.asarray(truth["id"], np.int64)
    order = np.argsort(ids)
    out = {b: np.zeros(ids.size) for b in bands}
    for t in source_tables:
        if len(t) == 0:
            continue
        rows = order[np.searchsorted(ids, np.asarray(t["id"], np.int64), sorter=order)]
        for b in bands:
            np.add.at(out[b], rows, np.asarray(t[f"mu_{b}"], float))
    return out
