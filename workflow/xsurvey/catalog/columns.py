"""Columns of the band-merged catalogues, with units and descriptions."""

from __future__ import annotations

#: DET_ML reported in a band where the source is not detected.
UNDETECTED_DET_ML = -99.0


FLUX_UNIT = "erg / (cm2 s)"


#: Source-level catalogue columns: name -> (unit, description).
CATALOG_COLUMNS = {
    "id": ("", "running number (catalogue order)"),
    "name": ("", "IAU name <PREFIX> JHHMMSS.s+DDMMSS (truncated position)"),
    "ra": ("deg", "right ascension (ICRS), from the band of highest DET_ML"),
    "dec": ("deg", "declination (ICRS), from the band of highest DET_ML"),
    "pos_err_arcsec": ("arcsec", "1-sigma positional error per coordinate: the replicas' "
                                 "Rayleigh scale at the best-band DET_ML (NaN: no calibration)"),
    "best_band": ("", "band (keV) of the position: highest DET_ML above threshold"),
    "band_combination": ("", "bands: capital letter = above threshold, lower case = "
                             "detected below threshold, in instrument band order"),
    "n_bands_passing": ("", "number of bands with DET_ML above the threshold"),
    "p_spurious": ("", "1 - reliability at DET_ML in the best band and exposure interval"),
}
