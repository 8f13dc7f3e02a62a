"""Tables: columns read as floats with clear errors, astropy tables with units and
descriptions, byte-stable CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey.io import InputError, atomic_path


def as_float(values) -> np.ndarray:
    """Float64 array of ``values`` (array, Column, Series), masked entries as NaN."""
    return np.ma.filled(np.ma.asarray(values).astype(np.float64), np.nan)


def float_column(table, name: str, what: str) -> np.ndarray:
    """Column ``name`` of ``table`` as float64, masked entries as NaN.

    Parameters
    ----------
    table : astropy.table.Table, pandas.DataFrame or dict of arrays
    name : str
    what : str
        What the table is, for the message (e.g. "3-8 detections").

    Raises
    ------
    InputError
        If the column is missing; the message names ``what`` and the columns present.
    """
    try:
        values = table[name]
    except KeyError:
        cols = list(table.columns) if hasattr(table, "columns") else list(table.keys())
        raise InputError(f"{what} lacks column {name!r} (found {', '.join(map(str, cols))})") \
            from None
    return as_float(values)


def make_table(columns: dict, spec: dict) -> Table:
    """Astropy Table from arrays, with the units and descriptions of ``spec``.

    Parameters
    ----------
    columns : dict of array_like
        Must hold every key of ``spec``.
    spec : dict
        ``name -> (unit, description)``, in output order.
    """
    tab = Table()
    for name, (unit, desc) in spec.items():
        tab[name] = np.asarray(columns[name], dtype=np.float64)
        tab[name].unit = unit or None
        tab[name].description = desc
    return tab


#: Float format of :func:`write_csv` (6 significant digits: byte-stable tables).
CSV_FLOAT_FORMAT = "%.6g"


def write_csv(df: pd.DataFrame, path) -> None:
    """Write a table as CSV atomically and byte-stably.

    Floats use ``%.6g`` (:data:`CSV_FLOAT_FORMAT`), lines end with ``\\n``,
    no index; NaN is written as an empty field.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")


def band_rows(df: pd.DataFrame, band: str) -> pd.DataFrame:
    """Rows of a long table (one ``band`` column) for one band, re-indexed from 0.

    A table read back from CSV may hold the band as any type; it is compared as text.
    """
    return df[df["band"].astype(str) == band].reset_index(drop=True)


def read_csv_table(path) -> Table:
    """A table written by :func:`write_csv`, back as an astropy Table.

    Empty fields of float columns come back as NaN (as they were written), not masked.
    """
    return Table({name: column.to_numpy() for name, column in pd.read_csv(path).items()})
