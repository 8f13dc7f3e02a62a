"""Reading and writing FITS images, event files and tables, with clear errors.

Readers validate what later stages rely on (a celestial WCS, the required
columns, finite values) and raise :class:`InputError` naming the file and
what was expected. Writers are atomic: they write to a temporary file in the
destination directory and rename it, so an interrupted job never leaves a
file that looks complete.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

EVENT_COLUMNS = ("X", "Y", "PI", "TIME")


class InputError(ValueError):
    """Bad input data: the message names the file and what was expected."""


#: FITS cards that every FITS product of the running job carries (TELESCOP, CREATOR, DATE,
#: ...), set once per job by :func:`xsurvey.provenance.start_job`; empty outside a rule.
PRODUCT_CARDS: dict = {}
#: The cards that say how a file was written (by which software, when, from which code and
#: configuration): the writing job's own values replace any that a table inherits from the
#: product it was made from. The other cards (TELESCOP, INSTRUME) given explicitly win.
WRITING_CARDS = ("CREATOR", "DATE", "CODEHASH", "CONFHASH")


def with_product_cards(cards) -> dict:
    """``cards`` (a header's or a table's metadata) with the job's :data:`PRODUCT_CARDS`.

    A card of ``cards`` wins over the job's, except the :data:`WRITING_CARDS`.
    """
    out = {**PRODUCT_CARDS, **dict(cards or {})}
    out.update({k: PRODUCT_CARDS[k] for k in WRITING_CARDS if k in PRODUCT_CARDS})
    return out


@contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_package_table(path, nodes: dict, regenerate: str) -> dict:
    """Arrays of a table file shipped with the package (``.npz``), after checking that it
    was made on ``nodes`` (``{name: expected value}``, compared exactly).

    Raises
    ------
    RuntimeError
        Naming the file and ``regenerate`` (how to remake it) when a node differs.
    """
    with np.load(path) as data:
        if not all(np.array_equal(data[name], value) for name, value in nodes.items()):
            raise RuntimeError(f"{path} was made with other nodes or photons: regenerate it "
                               f"with {regenerate}")
        return {name: np.array(data[name]) for name in data.files}


def _open(path, what: str):
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    try:
        hdul = fits.open(path, memmap=False)
        hdul.verify("exception")
        for hdu in hdul:
            _ = hdu.data  # force reading: truncated files fail here
    except Exception as exc:  # astropy raises OSError, VerifyError, TypeError...
        raise InputError(f"{what} file {path} is not a readable FITS file: {exc}") from exc
    return hdul


def _celestial_wcs(header, path, what, **kwargs) -> WCS:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header, **kwargs)
        except Exception as exc:
            raise InputError(f"{what} file {path}: invalid WCS: {exc}") from exc
    if not wcs.has_celestial or wcs.celestial.naxis != 2:
        raise InputError(
            f"{what} file {path}: no celestial WCS (expected CTYPE RA---TAN/DEC--TAN "
            f"keywords with CRVAL/CRPIX/CDELT)"
        )
    return wcs.celestial


def image_footprint(path, what: str = "image") -> tuple[float, float, float]:
    """Circle containing a FITS image, from its header only (no data read).

    Parameters
    ----------
    path : str or pathlib.Path
        FITS file whose primary HDU is a 2-D image with a celestial WCS.
    what : str
        Description used in error messages.

    Returns
    -------
    ra_deg, dec_deg, radius_deg : float
        Sky position of the image centre and the largest distance from it to
        a corner, degrees.
    """
    try:
        header = fits.getheader(path)
    except Exception as exc:
        raise InputError(f"{what} file {path} is not a readable FITS file: {exc}") from exc
    ny, nx = int(header.get("NAXIS2", 0)), int(header.get("NAXIS1", 0))
    if header.get("NAXIS", 0) != 2 or nx < 1 or ny < 1:
        raise InputError(f"{what} file {path}: primary HDU is not a 2-D image")
    wcs = _celestial_wcs(header, path, what).celestial
    x = np.array([(nx - 1) / 2.0, -0.5, nx - 0.5, -0.5, nx - 0.5])
    y = np.array([(ny - 1) / 2.0, -0.5, -0.5, ny - 0.5, ny - 0.5])
    sky = wcs.pixel_to_world(x, y)
    radius = float(np.max(sky[0].separation(sky[1:]).deg))
    return float(sky[0].ra.deg), float(sky[0].dec.deg), radius


def read_image(path, what: str = "image", hdu=0, allow_nan: bool = False,
               allow_negative: bool = True):
    """Read a 2-D image with its celestial WCS.

    Parameters
    ----------
    path : path-like
        FITS file.
    what : str
        Description used in error messages (e.g. ``"exposure map"``).
    hdu : int or str
        HDU index or name.
    allow_nan, allow_negative : bool
        Reject non-finite or negative pixels when False.

    Returns
    -------
    data : numpy.ndarray (float64)
    wcs : astropy.wcs.WCS
    header : astropy.io.fits.Header
    """
    with _open(path, what) as hdul:
        try:
            h = hdul[hdu]
        except (KeyError, IndexError):
            raise InputError(f"{what} file {path}: no HDU {hdu!r}") from None
        if h.data is None or h.data.ndim != 2:
            raise InputError(f"{what} file {path}: HDU {hdu!r} is not a 2-D image")
        data = np.asarray(h.data, dtype=float)
        header = h.header.copy()
    wcs = _celestial_wcs(header, path, what)
    if not allow_nan and not np.all(np.isfinite(data)):
        n = int(np.count_nonzero(~np.isfinite(data)))
        raise InputError(f"{what} file {path}: {n} NaN/infinite pixels (expected finite values)")
    if not allow_negative and np.nanmin(data) < 0:
        raise InputError(f"{what} file {path}: negative pixels (min {np.nanmin(data):.3g})")
    return data, wcs, header


def read_events(path):
    """Read a HEASARC-style event file.

    Expects an ``EVENTS`` extension with columns X, Y, PI, TIME whose sky WCS
    is given by the TCTYPn/TCRVLn/TCRPXn/TCDLTn column keywords, and a
    ``GTI`` extension.

    Returns
    -------
    events : astropy.table.Table
        Columns X, Y (sky pixels, 1-based FITS convention), PI, TIME.
    wcs : astropy.wcs.WCS
        Celestial WCS of the X, Y columns (pixel coordinates 1-based in FITS,
        use ``wcs.wcs_pix2world(x, y, 1)``).
    header : astropy.io.fits.Header
        EVENTS header.
    """
    with _open(path, "event") as hdul:
        names = [h.name for h in hdul]
        if "EVENTS" not in names:
            raise InputError(f"event file {path}: no EVENTS extension (found {names})")
        ev = hdul["EVENTS"]
        cols = ev.columns.names
        missing = [c for c in EVENT_COLUMNS if c not in cols]
        if missing:
            raise InputError(
                f"event file {path}: EVENTS lacks column(s) {', '.join(missing)} "
                f"(expected {', '.join(EVENT_COLUMNS)})"
            )
        if "GTI" not in names:
            raise InputError(f"event file {path}: no GTI extension")
        header = ev.header.copy()
        table = Table({c: np.asarray(ev.data[c]) for c in EVENT_COLUMNS})
    ix, iy = cols.index("X") + 1, cols.index("Y") + 1
    for key in ("TCTYP", "TCRVL", "TCRPX", "TCDLT"):
        for i in (ix, iy):
            if f"{key}{i}" not in header:
                raise InputError(
                    f"event file {path}: missing sky WCS keyword {key}{i} for column "
                    f"{'X' if i == ix else 'Y'}"
                )
    wcs = _events_wcs(header, ix, iy, path)
    return table, wcs, header


def _events_wcs(header, ix, iy, path) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = [header[f"TCTYP{ix}"], header[f"TCTYP{iy}"]]
    w.wcs.crval = [header[f"TCRVL{ix}"], header[f"TCRVL{iy}"]]
    w.wcs.crpix = [header[f"TCRPX{ix}"], header[f"TCRPX{iy}"]]
    w.wcs.cdelt = [header[f"TCDLT{ix}"], header[f"TCDLT{iy}"]]
    if not w.has_celestial:
        raise InputError(f"event file {path}: TCTYP{ix}/TCTYP{iy} are not celestial")
    return w


def events_wcs_keywords(wcs: WCS, ix: int = 1, iy: int = 2) -> dict:
    """TC* column keywords describing ``wcs`` for event columns ``ix``, ``iy``."""
    out = {}
    for axis, col in ((0, ix), (1, iy)):
        out[f"TCTYP{col}"] = wcs.wcs.ctype[axis]
        out[f"TCRVL{col}"] = float(wcs.wcs.crval[axis])
        out[f"TCRPX{col}"] = float(wcs.wcs.crpix[axis])
        out[f"TCDLT{col}"] = float(wcs.wcs.cdelt[axis])
        out[f"TCUNI{col}"] = "deg"
    return out


def write_image(path, data, wcs: WCS, bunit: str, extra: dict | None = None,
                extensions: dict | None = None):
    """Write an image with WCS and BUNIT atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    data : numpy.ndarray
        2-D image.
    wcs : astropy.wcs.WCS
        Celestial WCS.
    bunit : str
        Unit string (FITS BUNIT), e.g. ``"s"`` or ``"count"``.
    extra : dict, optional
        Extra header cards ``{key: value}`` or ``{key: (value, comment)}``.
    extensions : dict, optional
        Further image HDUs ``{EXTNAME: array}`` sharing the WCS and unit.
    """
    header = wcs.to_header()
    if header.get("MJDREF") == 0.0:  # astropy's default for a WCS without time: not a date
        del header["MJDREF"]
    header["BUNIT"] = bunit
    for k, v in with_product_cards(extra).items():
        header[k] = v
    hdus = [fits.PrimaryHDU(np.asarray(data), header=header)]
    for name, arr in (extensions or {}).items():
        hdus.append(fits.ImageHDU(np.asarray(arr), header=header, name=name))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)


def write_table(table: Table, path, **kwargs):
    """Write an astropy table atomically (format from the file extension); a FITS table
    carries the job's :data:`PRODUCT_CARDS`."""
    path = Path(path)
    fmt = {".fits": "fits", ".csv": "ascii.csv", ".ecsv": "ascii.ecsv",
           ".parquet": "parquet"}.get(path.suffix)
    if fmt == "fits":
        table = table.copy(copy_data=False)
        table.meta = with_product_cards(table.meta)
    with atomic_path(path) as tmp:
        table.write(tmp, format=fmt, overwrite=True, **kwargs)


def read_background(path):
    """Read a background map and, if present, its FCXB component.

    Returns
    -------
    total : numpy.ndarray
        Expected background counts per pixel (primary HDU or first image HDU).
    fcxb : numpy.ndarray or None
        The ``FCXB`` extension (focused cosmic X-ray background), if any.
    wcs : astropy.wcs.WCS
    """
    total, wcs, _ = read_image(path, "background map", allow_nan=False, allow_negative=False)
    with fits.open(path, memmap=False) as hdul:
        fcxb = np.asarray(hdul["FCXB"].data, float) if "FCXB" in hdul else None
    if fcxb is not None and fcxb.shape != total.shape:
        raise InputError(f"background map {path}: FCXB extension shape {fcxb.shape} differs "
                         f"from the total {total.shape}")
    if fcxb is not None and not np.all(np.isfinite(fcxb)):
        raise InputError(f"background map {path}: FCXB extension has "
                         f"{int(np.count_nonzero(~np.isfinite(fcxb)))} NaN/infinite pixels")
    if fcxb is not None and fcxb.min() < 0:
        raise InputError(f"background map {path}: FCXB extension has negative pixels (min "
                         f"{fcxb.min():.3g}; expected counts >= 0)")
    return total, fcxb, wcs


def setup_logging(log_path=None, level=logging.INFO) -> logging.Logger:
    """Log to ``log_path`` (a rule's ``log:`` file) and stderr; return the xsurvey logger.

    An exception that ends the script is logged too (message and traceback), so the rule's
    log file says why the job failed.
    """
    handlers = [logging.StreamHandler()]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.excepthook = _log_uncaught
    return logging.getLogger("xsurvey")


def _log_uncaught(exc_type, exc, tb) -> None:
    """``sys.excepthook``: the failure, with its traceback, to the log handlers (and stderr)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("xsurvey").critical("job failed: %s: %s", exc_type.__name__, exc,
                                          exc_info=(exc_type, exc, tb))


def read_mosaics(paths) -> tuple[dict, WCS]:
    """Read a set of mosaics on one grid.

    Parameters
    ----------
    paths : dict
        ``{kind: path}``, e.g. counts, exposure, background, background_nofcxb.

    Returns
    -------
    maps : dict of numpy.ndarray
    wcs : astropy.wcs.WCS
        The grid (of the first map); all maps must share its shape.
    """
    maps, wcs = {}, None
    for kind, path in paths.items():
        data, w, _ = read_image(path, f"{kind} mosaic", allow_negative=False)
        if wcs is None:
            wcs, shape = w, data.shape
        elif data.shape != shape:
            raise InputError(f"{kind} mosaic {path}: shape {data.shape} differs from {shape}")
        maps[kind] = data
    return maps, wcs


def read_band_mosaics(paths) -> tuple[dict, WCS]:
    """Read the mosaics of several bands on one grid.

    Parameters
    ----------
    paths : dict
        ``{band: {kind: path}}`` (e.g. ``nested_inputs(snakemake.input, "maps")``).

    Returns
    -------
    maps : dict
        ``band -> {kind: numpy.ndarray}``.
    wcs : astropy.wcs.WCS
    """
    maps, wcs = {}, None
    for band, files in paths.items():
        maps[band], w = read_mosaics(files)
        wcs = wcs or w
    return maps, wcs


def input_key(*parts) -> str:
    """Name of one file among a rule's named inputs: its parts joined by ``/``.

    ``input_key("maps", "e1", "3-24", "counts")`` is ``"maps/e1/3-24/counts"``; the
    rules name their inputs this way so scripts look files up by epoch, band, kind
    (:func:`nested_inputs`) instead of by position in a list.
    """
    return "/".join(str(p) for p in parts)


def nested_inputs(named, prefix: str) -> dict:
    """The named inputs under ``prefix`` as nested dicts, one level per key part.

    Parameters
    ----------
    named : mapping
        ``snakemake.input`` (or any mapping with ``items()``) whose keys were made by
        :func:`input_key`.
    prefix : str
        First part of the keys, e.g. ``"maps"``.

    Returns
    -------
    dict
        e.g. ``{epoch: {band: {kind: path}}}`` for keys ``maps/<epoch>/<band>/<kind>``.

    Raises
    ------
    KeyError
        When no input is named under ``prefix``.
    """
    tree: dict = {}
    for key, path in named.items():
        head, *parts = key.split("/")
        if head != prefix or not parts:
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = str(path)
    if not tree:
        raise KeyError(f"no inputs named {prefix}/...")
    return tree
