"""Ancillary catalogues (soft X-ray, optical/IR): reading with column mapping and
checks, surface densities (method.md §10)."""

from __future__ import annotations

import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table

from xsurvey.io import InputError
from xsurvey.tables import as_float

log = logging.getLogger(__name__)


#: Kinds of ancillary catalogue and the brightness column each one needs.
KINDS = {"softx": "flux", "optical": "mag"}


#: Magnitudes with |m| >= this are "no measurement" sentinels (99, -99, ...).
MAG_SENTINEL = 90.0








def _ids_as_str(values) -> np.ndarray:
    return np.asarray([str(v) for v in np.ma.filled(np.ma.asarray(values), -1)], dtype=str) \
        if len(values) else np.zeros(0, dtype=str)


# --------------------------------------------------------------------------- loading
def _catalogue_label(spec: dict) -> str:
    return f"ancillary catalogue {spec.get('name', '?')!r} ({spec.get('path', '?')})"


def _read_table(path: Path, spec: dict, label: str) -> Table:
    if not path.exists():
        raise InputError(f"{label}: file not found: {path}")
    kwargs = {}
    if spec.get("format"):
        kwargs["format"] = spec["format"]
    if spec.get("hdu") is not None:
        kwargs["hdu"] = spec["hdu"]
    try:
        return Table.read(path, **kwargs)
    except Exception as exc:  # astropy raises many types (OSError, ValueError, IORegistryError)
        hint = "" if spec.get("format") else \
            " (set 'format', e.g. fits, ascii.csv, ascii.ecsv, votable)"
        raise InputError(f"{label}: cannot read {path}: {exc}{hint}") from exc


def _mapped(table: Table, columns: dict, key: str, label: str, default: str | None = None):
    """Column mapped to ``key`` (or ``default`` when unmapped and present); None if absent."""
    name = columns.get(key, None)
    if name is None:
        if default is not None and default in table.colnames:
            return table[default]
        return None
    if name not in table.colnames:
        raise InputError(
            f"{label}: column {name!r} (mapped to {key!r}) not found; "
            f"available columns: {', '.join(table.colnames)}")
    return table[name]


def _quantity(col, unit, label: str, what: str) -> np.ndarray:
    """Column values in ``unit`` (columns without a unit are taken to be in ``unit``)."""
    try:
        values = as_float(col)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{label}: column {col.name!r} ({what}) is not numeric: {exc}") from None
    cu = getattr(col, "unit", None)
    if cu is not None and str(cu) not in ("", "None"):
        try:
            values = (values * u.Unit(cu)).to_value(unit)
        except (u.UnitConversionError, ValueError) as exc:
            raise InputError(f"{label}: column {col.name!r} ({what}) has unit {cu}, "
                             f"not convertible to {unit}: {exc}") from None
    return values


def _bad_rows_message(bad: np.ndarray, ids) -> str:
    idx = np.flatnonzero(bad)
    shown = ", ".join(str(ids[i]) for i in idx[:5])
    return f"{idx.size} row(s), e.g. id {shown}"


def load_ancillary(spec: dict, base_dir=None) -> Table:
    """Read an ancillary (soft-X-ray or optical/IR) catalogue into the standard table.

    Parameters
    ----------
    spec : dict
        One entry of the configuration list ``counterparts.catalogs``:

        - ``name`` (str): short name, reported in ``ctp_catalog``;
        - ``path`` (str): file; relative paths are relative to ``base_dir``;
        - ``kind``: ``"softx"`` or ``"optical"`` (optical/IR: anything with
          a magnitude);
        - ``format`` (optional): astropy format (``fits``, ``ascii.csv``,
          ``ascii.ecsv``, ``votable``...); by default from the file;
          ``hdu`` (optional) for multi-extension FITS;
        - ``columns``: ``{ra, dec, pos_err, mag | flux, redshift, id}`` ->
          column names. ``ra``/``dec`` (deg, or any angle unit on the
          column) default to columns called ``ra``/``dec``; ``pos_err``
          (1-sigma per coordinate, arcsec unless the column has a unit) to
          ``pos_err``; ``id`` to ``id`` (row number from 1 when absent).
          Optical catalogues need ``mag`` (or ``flux``: a flux density
          with a unit convertible to Jy becomes an AB magnitude, any other
          flux a pseudo-magnitude ``-2.5 log10(flux)``, which is all the
          likelihood ratio needs); soft-X catalogues need ``flux``
          (erg cm^-2 s^-1 in ``band_kev``);
        - ``pos_err_arcsec`` (optional float): one error for all objects,
          used instead of a ``pos_err`` column;
        - ``pos_err_scale`` (optional float, default 1): multiplies the
          errors, e.g. ``0.7071`` for a catalogue giving the *radial*
          (RA and Dec combined) 1-sigma error;
        - ``band_kev`` (softx, optional, default ``[0.5, 2.0]``): band of
          ``flux``;
        - ``priority`` (int, optional, default 0): lower is preferred
          (:func:`combine_identifications`);
        - ``footprint`` (optional): see :func:`coverage_mask`.
    base_dir : path-like, optional
        Directory for relative paths (default: the working directory).

    Returns
    -------
    astropy.table.Table
        ``id`` (str), ``ra``, ``dec`` (deg), ``pos_err`` (arcsec), ``mag``
        (optical; NaN where missing or a sentinel with ``|m| >= 90``) or
        ``flux`` (softx; NaN where not positive), ``redshift`` (NaN when not
        mapped). ``meta``: ``NAME``, ``KIND``, ``PRIORITY``, ``PATH``,
        ``FOOTPRINT`` (when configured) and, for softx, ``E_MIN``/``E_MAX``
        (keV).

    Raises
    ------
    xsurvey.io.InputError
        Unreadable file, empty catalogue, a mapped column that is missing,
        a kind without its brightness column, non-finite or out-of-range
        coordinates, non-positive positional errors.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"counterparts catalogue: expected a mapping, got {type(spec).__name__}")
    for key in ("name", "path", "kind"):
        if key not in spec:
            raise ValueError(f"{_catalogue_label(spec)}: missing required key {key!r}")
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"{_catalogue_label(spec)}: kind must be one of {list(KINDS)}, "
                         f"got {kind!r}")
    label = _catalogue_label(spec)
    path = Path(spec["path"])
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    raw = _read_table(path, spec, label)
    if len(raw) == 0:
        raise InputError(f"{label}: the catalogue is empty (0 rows)")
    columns = dict(spec.get("columns") or {})

    ra_col = _mapped(raw, columns, "ra", label, default="ra")
    dec_col = _mapped(raw, columns, "dec", label, default="dec")
    for key, col in (("ra", ra_col), ("dec", dec_col)):
        if col is None:
            raise InputError(f"{label}: no {key!r} column; map it in columns.{key} "
                             f"(available: {', '.join(raw.colnames)})")
    id_col = _mapped(raw, columns, "id", label, default="id")
    ids = _ids_as_str(id_col) if id_col is not None else \
        np.asarray([str(i) for i in range(1, len(raw) + 1)])

    ra = _quantity(ra_col, u.deg, label, "ra")
    dec = _quantity(dec_col, u.deg, label, "dec")
    bad = ~(np.isfinite(ra) & np.isfinite(dec))
    if bad.any():
        raise InputError(f"{label}: non-finite coordinates in {_bad_rows_message(bad, ids)}")
    bad = np.abs(dec) > 90.0
    if bad.any():
        raise InputError(f"{label}: declination outside [-90, 90] deg in "
                         f"{_bad_rows_message(bad, ids)}")

    if spec.get("pos_err_arcsec") is not None:
        pos_err = np.full(len(raw), float(spec["pos_err_arcsec"]))
    else:
        col = _mapped(raw, columns, "pos_err", label, default="pos_err")
        if col is None:
            raise InputError(f"{label}: no positional error: map columns.pos_err or give "
                             f"pos_err_arcsec (available columns: {', '.join(raw.colnames)})")
        pos_err = _quantity(col, u.arcsec, label, "pos_err")
    pos_err = pos_err * float(spec.get("pos_err_scale", 1.0))
    bad = ~(np.isfinite(pos_err) & (pos_err > 0))
    if bad.any():
        raise InputError(f"{label}: positional errors must be finite and > 0; bad in "
                         f"{_bad_rows_message(bad, ids)}")

    out = Table()
    out["id"] = ids
    out["ra"] = ra % 360.0
    out["dec"] = dec
    out["pos_err"] = pos_err
    need = KINDS[kind]
    if kind == "optical":
        mag_col = _mapped(raw, columns, "mag", label)
        flux_col = _mapped(raw, columns, "flux", label) if mag_col is None else None
        if mag_col is None and flux_col is None:
            raise InputError(f"{label}: an optical catalogue needs a magnitude column: map "
                             f"columns.mag (or columns.flux); available: "
                             f"{', '.join(raw.colnames)}")
        if mag_col is not None:
            try:
                mag = as_float(mag_col)  # magnitudes as given, whatever their unit string
            except (TypeError, ValueError) as exc:
                raise InputError(f"{label}: column {mag_col.name!r} (mag) is not numeric: "
                                 f"{exc}") from None
        else:
            mag = _flux_to_mag(flux_col, label)
        mag = np.where(np.isfinite(mag) & (np.abs(mag) < MAG_SENTINEL), mag, np.nan)
        n_bad = int(np.count_nonzero(~np.isfinite(mag)))
        if n_bad == len(mag):
            raise InputError(f"{label}: no valid magnitude in column "
                             f"{(mag_col if mag_col is not None else flux_col).name!r}")
        if n_bad:
            log.warning("%s: %d object(s) without a valid magnitude", label, n_bad)
        out["mag"] = mag
        out["mag"].unit = "mag"
    else:
        flux_col = _mapped(raw, columns, "flux", label)
        if flux_col is None:
            raise InputError(f"{label}: a softx catalogue needs a flux column: map "
                             f"columns.flux (available: {', '.join(raw.colnames)})")
        flux = _quantity(flux_col, u.erg / u.cm**2 / u.s, label, "flux")
        out["flux"] = np.where(np.isfinite(flux) & (flux > 0), flux, np.nan)
        out["flux"].unit = "erg / (cm2 s)"
        lo, hi = (float(v) for v in spec.get("band_kev", (0.5, 2.0)))
        out.meta["E_MIN"], out.meta["E_MAX"] = lo, hi
    z_col = _mapped(raw, columns, "redshift", label)
    out["redshift"] = as_float(z_col) if z_col is not None else np.full(len(raw), np.nan)
    out["ra"].unit = out["dec"].unit = "deg"
    out["pos_err"].unit = "arcsec"
    out.meta.update({"NAME": str(spec["name"]), "KIND": kind, "BRIGHT": need,
                     "PRIORITY": int(spec.get("priority", 0)), "PATH": str(path)})
    if spec.get("footprint") is not None:
        out.meta["FOOTPRINT"] = spec["footprint"]
    return out


def _flux_to_mag(col, label: str) -> np.ndarray:
    flux = as_float(col)
    cu = getattr(col, "unit", None)
    with np.errstate(divide="ignore", invalid="ignore"):
        if cu is not None and u.Unit(cu).is_equivalent(u.Jy):
            return -2.5 * np.log10((flux * u.Unit(cu)).to_value(u.Jy) / 3631.0)
        log.info("%s: flux column %r without a flux-density unit: pseudo-magnitude "
                 "-2.5 log10(flux)", label, col.name)
        return -2.5 * np.log10(flux)
