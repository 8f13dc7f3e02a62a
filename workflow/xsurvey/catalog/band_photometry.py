"""Photometry of every catalogue source in every band (detected or forced, upper
limits) and its band combination (method.md §8)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from xsurvey.catalog.columns import FLUX_UNIT, UNDETECTED_DET_ML
from xsurvey.catalog.merge import MasterList, _meta_value, _n_rows
from xsurvey.detect.photometry import (
    SIGMA_90,
    Aperture,
    count_rate,
    forced_photometry,
    net_errors,
    net_upper_limit,
    signal_to_noise,
)
from xsurvey.instrument.core import band_suffix
from xsurvey.tables import float_column


# --------------------------------------------------------------------------- photometry
def forced_at_positions(ra, dec, counts_map, background_map, exposure_map, wcs,
                        aperture: Aperture) -> dict:
    """Aperture photometry at sky positions (upper limits of undetected bands).

    Parameters
    ----------
    ra, dec : array_like
        Positions, deg (e.g. ``MasterList.ra``, ``.dec``).
    counts_map, background_map : numpy.ndarray
        Counts and expected background counts per pixel of the band's stack
        mosaic (the maps the detection used).
    exposure_map : numpy.ndarray
        Exposure, s.
    wcs : astropy.wcs.WCS
        Celestial WCS of the maps.
    aperture : xsurvey.detect.Aperture
        Radius (pixels), EEF and CF of the band.

    Returns
    -------
    dict of numpy.ndarray
        :func:`xsurvey.detect.forced_photometry` columns (``x, y,
        exposure_ks, counts, bkg, net, ...``), one row per position.
    """
    x, y = wcs.wcs_world2pix(np.atleast_1d(np.asarray(ra, float)),
                             np.atleast_1d(np.asarray(dec, float)), 0)
    return forced_photometry(counts_map, background_map, exposure_map, x, y,
                                        aperture, as_table=False)


def band_columns(band: str, aperture: Aperture | None = None,
                 ul_sigma: float = SIGMA_90) -> dict:
    """Per-band catalogue columns: ``name -> (unit, description)``, in output order."""
    s, bk = band_suffix(band), f"{band} keV"
    conv = (f" (CF = {aperture.cf:.4g} erg/cm2/ct, EEF = {aperture.eef:.3f})"
            if aperture is not None else "")
    lim = f"Gehrels upper limit at S = {ul_sigma:g}"
    return {
        f"above_{s}": ("", f"{bk}: DET_ML at or above the threshold of its exposure interval"),
        f"det_ml_{s}": ("", f"{bk}: DET_ML = -ln P(N, B') deblended; -99 if undetected"),
        f"det_ml_raw_{s}": ("", f"{bk}: -ln P(N, B) raw background; -99 if undetected"),
        f"exposure_ks_{s}": ("ks", f"{bk}: exposure (FPMA+B) at the detection, or at the "
                                   "catalogue position if undetected"),
        f"counts_{s}": ("ct", f"{bk}: total counts N in the aperture"),
        f"bkg_{s}": ("ct", f"{bk}: background counts B in the aperture (not deblended)"),
        f"bkg_deblended_{s}": ("ct", f"{bk}: deblended background B' (NaN if undetected)"),
        f"net_{s}": ("ct", f"{bk}: net counts N - B'; if ul: {lim}, lambda_u(N) - B"),
        f"net_err_hi_{s}": ("ct", f"{bk}: 1-sigma upper error on net counts (NaN if ul)"),
        f"net_err_lo_{s}": ("ct", f"{bk}: 1-sigma lower error on net counts (NaN if ul)"),
        f"ul_{s}": ("", f"{bk}: net, rate and flux are upper limits"),
        f"rate_{s}": ("ct / s", f"{bk}: net count rate (upper limit if ul)"),
        f"rate_err_hi_{s}": ("ct / s", f"{bk}: 1-sigma upper error on the rate (NaN if ul)"),
        f"rate_err_lo_{s}": ("ct / s", f"{bk}: 1-sigma lower error on the rate (NaN if ul)"),
        f"flux_{s}": (FLUX_UNIT, f"{bk}: aperture-corrected flux rate*CF/EEF{conv} "
                                  "(upper limit if ul)"),
        f"flux_err_hi_{s}": (FLUX_UNIT, f"{bk}: 1-sigma upper error on the flux (NaN if ul)"),
        f"flux_err_lo_{s}": (FLUX_UNIT, f"{bk}: 1-sigma lower error on the flux (NaN if ul)"),
        f"snr_{s}": ("", f"{bk}: S/N = (N - B') / sqrt(N + B') (NaN if ul)"),
    }


def _aperture_from_meta(det, band: str) -> Aperture:
    meta = getattr(det, "meta", None) or getattr(det, "attrs", {})
    try:
        cf, eef = float(_meta_value(meta["CF"])), float(_meta_value(meta["EEF"]))
    except KeyError:
        raise ValueError(f"band {band}: no aperture given and the detection table has no "
                         "CF/EEF metadata") from None
    # the radius is not needed for the flux conversion (META APERTURE is in arcsec)
    return Aperture(radius_pix=np.nan, eef=eef, cf=cf)


def _band_photometry(det, index, passing, forced, aperture, band, ul_sigma) -> dict:
    """Per-band catalogue arrays of one band (see the module docstring)."""
    n_src = index.size
    has = index >= 0
    rows = index[has]

    def from_det(name, fill):
        out = np.full(n_src, fill, dtype=np.float64)
        if rows.size:
            out[has] = float_column(det, name, f"{band} detections")[rows]
        return out

    ml = from_det("det_ml", UNDETECTED_DET_ML)
    ml_raw = from_det("det_ml_raw", UNDETECTED_DET_ML)
    expo = from_det("exposure_ks", np.nan)
    n = from_det("counts", np.nan)
    b = from_det("bkg", np.nan)
    b_deb = from_det("bkg_deblended", np.nan)
    if (~has).any():
        if forced is None:
            raise ValueError(f"band {band}: {int((~has).sum())} sources are undetected; "
                             "forced photometry at the catalogue positions is needed")
        if _n_rows(forced) != n_src:
            raise ValueError(f"band {band}: forced photometry has {_n_rows(forced)} rows, "
                             f"the master list {n_src}")
        for arr, name in ((expo, "exposure_ks"), (n, "counts"), (b, "bkg")):
            arr[~has] = float_column(forced, name, f"{band} forced photometry")[~has]

    t = expo * 1e3
    net_det = n - b_deb
    ul = ~(passing & has & (net_det > 0))
    hi, lo = net_errors(n)
    limit = net_upper_limit(n, b, ul_sigma)
    net = np.where(ul, limit, net_det)
    hi = np.where(ul, np.nan, hi)
    lo = np.where(ul, np.nan, lo)
    per_s = count_rate(1.0, t)
    to_flux = per_s * (aperture.cf / aperture.eef)
    s = band_suffix(band)
    return {
        f"above_{s}": passing & has,
        f"det_ml_{s}": ml,
        f"det_ml_raw_{s}": ml_raw,
        f"exposure_ks_{s}": expo,
        f"counts_{s}": n,
        f"bkg_{s}": b,
        f"bkg_deblended_{s}": b_deb,
        f"net_{s}": net,
        f"net_err_hi_{s}": hi,
        f"net_err_lo_{s}": lo,
        f"ul_{s}": ul,
        f"rate_{s}": net * per_s,
        f"rate_err_hi_{s}": hi * per_s,
        f"rate_err_lo_{s}": lo * per_s,
        f"flux_{s}": net * to_flux,
        f"flux_err_hi_{s}": hi * to_flux,
        f"flux_err_lo_{s}": lo * to_flux,
        f"snr_{s}": np.where(ul, np.nan, signal_to_noise(net_det, n, b_deb)),
    }


def band_combination(master: MasterList, band_letters: Mapping) -> np.ndarray:
    """Band-combination strings, e.g. ``'F+S+h'`` (method.md §9).

    Per band in ``master.bands`` order: the band's letter in upper case if
    the source passes the threshold there, in lower case if it is detected
    below the threshold, absent if undetected; joined with ``'+'``.

    Parameters
    ----------
    master : MasterList
    band_letters : dict
        ``band -> letter`` (``Instrument.band(b).letter``).

    Returns
    -------
    numpy.ndarray of str
    """
    parts = []
    for b in master.bands:
        letter = str(band_letters[b])
        code = np.where(master.passing[b], letter.upper(),
                        np.where(master.detected(b), letter.lower(), ""))
        parts.append(code.astype(object))
    if not parts:
        return np.zeros(0, dtype=str)
    combos = ["+".join(p for p in row if p) for row in zip(*parts, strict=True)]
    return np.asarray(combos, dtype=str)


def _letters(j: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', ..."""
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def band_combination_table(catalog, band_letters=None) -> pd.DataFrame:
    """Number and percentage of sources per band combination.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        Column ``band_combination``.
    band_letters : str or sequence or dict, optional
        The band letters in instrument order (e.g. ``"FSHMU"``, or
        ``band -> letter``). Ties in number are ordered by the letters' order
        (upper before lower case); without it, alphabetically.

    Returns
    -------
    pandas.DataFrame
        ``band_combination, n, percent`` sorted by decreasing ``n``; the
        percentages are of all catalogue sources.
    """
    combos = pd.Series(np.asarray(catalog["band_combination"]).astype(str))
    counts = combos.value_counts(sort=False)
    total = int(combos.size)
    out = pd.DataFrame({"band_combination": counts.index.astype(str),
                        "n": counts.to_numpy(np.int64)})
    if band_letters is not None:
        letters = list(band_letters.values()) if isinstance(band_letters, Mapping) \
            else list(band_letters)
        rank = {c: i for i, c in enumerate([x.upper() for x in letters]
                                           + [x.lower() for x in letters])}

        def key(combo):
            return tuple(rank.get(p, len(rank)) for p in combo.split("+"))

        tie = out["band_combination"].map(key)
    else:
        tie = out["band_combination"]
    out = out.assign(_tie=tie).sort_values(["n", "_tie"], ascending=[False, True],
                                           kind="stable").drop(columns="_tie")
    out["percent"] = 100.0 * out["n"] / total if total else np.nan
    return out.reset_index(drop=True)
