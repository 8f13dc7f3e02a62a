"""Everything of one band from its replicas: reliability curves, thresholds,
completeness, sky coverage, sensitivity, accuracy and a summary (rule calibrate)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsurvey.calibrate.accuracy import (
    flux_accuracy,
    positional_accuracy,
    positional_accuracy_by_det_ml,
    separation_subsets,
)
from xsurvey.calibrate.completeness import (
    completeness,
    counts_coverage,
    geometric_areas,
    sensitivity,
    sky_coverage,
)
from xsurvey.calibrate.intervals import _intervals_of, log_bins
from xsurvey.calibrate.reliability import (
    _band_of,
    _level_name,
    _levels,
    _matched,
    _require,
    _with_band,
    above_threshold,
)


# --------------------------------------------------------------------------- summary
def summary(detections: pd.DataFrame, thresholds: pd.DataFrame, n_replicas: int | None = None,
            band=None) -> pd.DataFrame:
    """Mean numbers per replica: detections, matches, detections above the thresholds.

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``replica, det_ml, exposure_ks, input_id``.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability`.
    n_replicas : int, optional
        Number of replicas simulated (replicas without any detection count
        too); default: the distinct ``replica`` values.
    band : str, optional
        Leading ``band`` column (default: the thresholds' band, if any).

    Returns
    -------
    pandas.DataFrame
        One row: ``[band,] n_replicas, n_detected, n_matched``, and per level
        L (e.g. 95, 99) ``n_above<L>`` and ``n_matched_above<L>`` (means per
        replica).
    """
    _require(detections, ["replica", "det_ml", "exposure_ks", "input_id"], "detections")
    if n_replicas is None:
        n_replicas = int(detections["replica"].nunique())
    if n_replicas <= 0:
        raise ValueError("summary: n_replicas must be positive")
    matched = _matched(detections)
    ml = detections["det_ml"].to_numpy(float)
    expo = detections["exposure_ks"].to_numpy(float)
    row = {"n_replicas": int(n_replicas),
           "n_detected": len(detections) / n_replicas,
           "n_matched": matched.sum() / n_replicas}
    for level in _levels(thresholds):
        above = above_threshold(ml, expo, thresholds, level)
        row[f"n_above{_level_name(level)}"] = above.sum() / n_replicas
        row[f"n_matched_above{_level_name(level)}"] = (above & matched).sum() / n_replicas
    out = pd.DataFrame([row])
    return _with_band(out, band if band is not None else _band_of(thresholds, "thresholds"))


def calibrate_band(detections: pd.DataFrame, inputs: pd.DataFrame, exposure_map_s,
                   pixel_area_deg2, band: str, n_replicas: int, thresholds: pd.DataFrame,
                   bright_flux: float = 1e-13, bins_per_decade: int = 8,
                   snr_min: float = 2.5) -> dict:
    """Calibration tables of one band from its replicas and its thresholds.

    Parameters
    ----------
    detections, inputs : pandas.DataFrame
        Replica tables of one band (:mod:`xsurvey.simulate` columns;
        :func:`xsurvey.simulate.band_inputs`).
    exposure_map_s : numpy.ndarray
        Stack exposure map, s (the one the replicas used).
    pixel_area_deg2 : float
        Pixel area of the map.
    band : str
    n_replicas : int
    thresholds : pandas.DataFrame
        The band's thresholds per level (:func:`band_reliability`, or raised
        for the merged catalogue); their intervals and levels are used.
    bright_flux : float
        Reference-band flux separating the bright and faint position subsets.
    bins_per_decade : int
        Flux bins per decade for completeness and flux accuracy.
    snr_min : float
        S/N cut of the number-counts sample (:func:`counts_coverage`).

    Returns
    -------
    dict of pandas.DataFrame
        ``completeness, skycoverage, countscoverage, sensitivity, positions,
        positions_det_ml, separations, flux_vs_flux, flux_vs_snr, summary``.
    """
    levels = _levels(thresholds)
    edges = _intervals_of(thresholds, "thresholds")
    fluxes = inputs["flux"].to_numpy()
    fluxes = fluxes[fluxes > 0]
    flux_bins = log_bins(fluxes.min(), fluxes.max(), bins_per_decade)
    comp = completeness(inputs, thresholds, flux_bins)
    areas = geometric_areas(exposure_map_s, pixel_area_deg2, edges)
    coverage = sky_coverage(comp, areas)
    snr = detections["snr"].to_numpy(float)
    snr = snr[np.isfinite(snr) & (snr > 0)]
    # S/N bins of the detections (a placeholder range when the replicas detected nothing)
    snr_bins = log_bins(max(snr.min(), 0.5), max(snr.max(), 1.0), bins_per_decade) \
        if snr.size else log_bins(0.5, 100.0, bins_per_decade)
    return {
        "completeness": comp,
        "skycoverage": coverage,
        "countscoverage": counts_coverage(detections, inputs, thresholds, flux_bins,
                                          float((np.asarray(exposure_map_s) > 0).sum())
                                          * pixel_area_deg2, snr_min),
        "sensitivity": sensitivity(coverage, float(areas["area_deg2"].sum())),
        "positions": positional_accuracy(detections, thresholds, levels[0], bright_flux,
                                         band=band),
        "positions_det_ml": positional_accuracy_by_det_ml(detections, thresholds, levels[0],
                                                          band=band),
        "separations": separation_subsets(detections, thresholds, levels[0], bright_flux),
        "flux_vs_flux": flux_accuracy(detections, flux_bins, by="input_flux", band=band),
        "flux_vs_snr": flux_accuracy(detections, snr_bins, by="snr", band=band),
        "summary": summary(detections, thresholds, n_replicas, band=band),
    }
