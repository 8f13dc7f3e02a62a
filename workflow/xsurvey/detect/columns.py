"""Columns of the detection tables, with units and descriptions."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from xsurvey.tables import make_table

# ---------------------------------------------------------------------------
# Output table
# ---------------------------------------------------------------------------
#: Detection catalogue columns: name -> (unit, description), in output order.
DETECTION_COLUMNS = {
    "ra": ("deg", "right ascension (ICRS) of the -log P peak"),
    "dec": ("deg", "declination (ICRS) of the -log P peak"),
    "x": ("pix", "0-based mosaic pixel x of the -log P peak"),
    "y": ("pix", "0-based mosaic pixel y of the -log P peak"),
    "det_ml": ("", "-ln P(N, B') with the deblended background"),
    "det_ml_raw": ("", "-ln P(N, B) with the raw background"),
    "exposure_ks": ("ks", "exposure at the position"),
    "counts": ("ct", "total counts N in the aperture"),
    "bkg": ("ct", "expected background counts B in the aperture (not deblended)"),
    "bkg_deblended": ("ct", "B' = B + neighbours' counts in the aperture"),
    "net": ("ct", "net counts S = N - B'"),
    "net_err_hi": ("ct", "1-sigma upper error on S (Gehrels)"),
    "net_err_lo": ("ct", "1-sigma lower error on S (Gehrels)"),
    "rate": ("ct / s", "net count rate S / t"),
    "flux": ("erg / (cm2 s)", "aperture-corrected flux rate * CF / EEF"),
    "flux_err_hi": ("erg / (cm2 s)", "1-sigma upper error on the flux"),
    "flux_err_lo": ("erg / (cm2 s)", "1-sigma lower error on the flux"),
    "snr": ("", "S / sqrt(N + B')"),
}


def empty_detection_columns() -> dict:
    """Dict of zero-length float arrays for every detection column."""
    return {name: np.zeros(0) for name in DETECTION_COLUMNS}


def detection_table(columns: dict, meta: dict | None = None) -> Table:
    """Astropy Table of :data:`DETECTION_COLUMNS` (units, descriptions) from arrays."""
    tab = make_table(columns, DETECTION_COLUMNS)
    if meta:
        tab.meta.update(meta)
    return tab


def empty_detection_table(meta: dict | None = None) -> Table:
    """A valid zero-row detection table with every column, unit and description."""
    return detection_table(empty_detection_columns(), meta)
