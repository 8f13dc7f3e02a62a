"""OGIP spectral files: PHA spectra (type I), ARFs and RMFs, written with astropy and read
back with checks that name the file (OGIP/92-007, CAL/GEN/92-002), so that XSPEC and
Sherpa open what the pipeline writes and the pipeline refuses what it cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from xsurvey.io import InputError, atomic_path, with_product_cards


class SpectrumError(InputError):
    """A spectral file that cannot be used: the message names the file and the problem."""


@dataclass
class Spectrum:
    """A PHA spectrum: counts per PI channel and the keywords a fit needs."""

    channel: np.ndarray
    counts: np.ndarray
    exposure_s: float
    backscal: float = 1.0
    areascal: float = 1.0
    backfile: str = "NONE"
    respfile: str = "NONE"
    ancrfile: str = "NONE"
    path: str = ""


def _ogip_header(hduclas1: str, hduclas2: str | None, hduvers: str, telescope: str,
                 instrument: str) -> dict:
    cards = {"HDUCLASS": ("OGIP", "format conforms to OGIP standard"),
             "HDUCLAS1": hduclas1, "HDUVERS": hduvers,
             "TELESCOP": telescope, "INSTRUME": instrument, "FILTER": "NONE"}
    if hduclas2:
        cards["HDUCLAS2"] = hduclas2
    return cards


def _write(path, extensions) -> None:
    primary = fits.PrimaryHDU()
    for key, value in with_product_cards({}).items():
        primary.header[key] = value
    with atomic_path(path) as tmp:
        fits.HDUList([primary, *extensions]).writeto(tmp, overwrite=True)


def write_pha(path, spectrum: Spectrum, telescope: str, instrument: str,
              background: bool = False, obj: str = "") -> None:
    """Write a type I PHA file (extension SPECTRUM, columns CHANNEL, COUNTS).

    ``background`` marks a background spectrum (HDUCLAS2 = BKG).
    """
    channel = np.asarray(spectrum.channel, np.int32)
    counts = np.asarray(spectrum.counts)
    if np.any(counts < 0) or not np.allclose(counts, np.round(counts)):
        raise ValueError(f"{path}: counts must be non-negative integers")
    hdu = fits.BinTableHDU.from_columns([
        fits.Column(name="CHANNEL", format="J", array=channel),
        fits.Column(name="COUNTS", format="J", unit="count",
                    array=np.round(counts).astype(np.int32))], name="SPECTRUM")
    h = hdu.header
    for key, value in _ogip_header("SPECTRUM", "BKG" if background else "TOTAL", "1.2.1",
                                   telescope, instrument).items():
        h[key] = value
    h["HDUCLAS3"] = "COUNT"
    h["OBJECT"] = obj
    h["EXPOSURE"] = (float(spectrum.exposure_s), "[s] exposure time")
    h["AREASCAL"] = float(spectrum.areascal)
    h["BACKSCAL"] = (float(spectrum.backscal), "background scaling factor")
    h["CORRSCAL"] = 0.0
    h["BACKFILE"] = spectrum.backfile
    h["CORRFILE"] = "NONE"
    h["RESPFILE"] = spectrum.respfile
    h["ANCRFILE"] = spectrum.ancrfile
    h["CHANTYPE"] = "PI"
    h["DETCHANS"] = channel.size
    h["POISSERR"] = True
    h["TLMIN1"] = int(channel[0])
    h["TLMAX1"] = int(channel[-1])
    _write(path, [hdu])


def write_arf(path, energ_lo, energ_hi, specresp, telescope: str, instrument: str) -> None:
    """Write an ARF (extension SPECRESP: ENERG_LO, ENERG_HI in keV, SPECRESP in cm^2)."""
    hdu = fits.BinTableHDU.from_columns([
        fits.Column(name="ENERG_LO", format="E", unit="keV", array=energ_lo),
        fits.Column(name="ENERG_HI", format="E", unit="keV", array=energ_hi),
        fits.Column(name="SPECRESP", format="E", unit="cm**2", array=specresp)],
        name="SPECRESP")
    for key, value in _ogip_header("RESPONSE", "SPECRESP", "1.1.0", telescope,
                                   instrument).items():
        hdu.header[key] = value
    _write(path, [hdu])


def write_rmf(path, energ_lo, energ_hi, matrix, grid, telescope: str, instrument: str) -> None:
    """Write an RMF: extension MATRIX (one channel group per energy, full rows) and EBOUNDS.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(n_energies, n_channels)`` redistribution probabilities.
    grid : xsurvey.spectra.ChannelGrid
        The channels of the columns.
    """
    n_e, n_ch = np.shape(matrix)
    first = np.full(n_e, grid.first, np.int32)
    mat = fits.BinTableHDU.from_columns([
        fits.Column(name="ENERG_LO", format="E", unit="keV", array=energ_lo),
        fits.Column(name="ENERG_HI", format="E", unit="keV", array=energ_hi),
        fits.Column(name="N_GRP", format="I", array=np.ones(n_e, np.int16)),
        fits.Column(name="F_CHAN", format="J", array=first),
        fits.Column(name="N_CHAN", format="J", array=np.full(n_e, n_ch, np.int32)),
        fits.Column(name="MATRIX", format=f"{n_ch}E", array=np.asarray(matrix, np.float32))],
        name="MATRIX")
    for key, value in _ogip_header("RESPONSE", "RSP_MATRIX", "1.3.0", telescope,
                                   instrument).items():
        mat.header[key] = value
    mat.header["HDUCLAS3"] = "REDIST"
    mat.header["CHANTYPE"] = "PI"
    mat.header["DETCHANS"] = n_ch
    mat.header["TLMIN4"] = grid.first
    mat.header["TLMAX4"] = grid.first + n_ch - 1
    mat.header["LO_THRES"] = 0.0
    ebounds = fits.BinTableHDU.from_columns([
        fits.Column(name="CHANNEL", format="J", array=grid.channels.astype(np.int32)),
        fits.Column(name="E_MIN", format="E", unit="keV", array=grid.e_min),
        fits.Column(name="E_MAX", format="E", unit="keV", array=grid.e_max)], name="EBOUNDS")
    for key, value in _ogip_header("RESPONSE", "EBOUNDS", "1.2.0", telescope,
                                   instrument).items():
        ebounds.header[key] = value
    ebounds.header["CHANTYPE"] = "PI"
    ebounds.header["DETCHANS"] = n_ch
    _write(path, [mat, ebounds])


def _table(path, extname: str, columns, what: str):
    path = Path(path)
    try:
        with fits.open(path) as hdul:
            hdu = hdul[extname]
            header, data = hdu.header.copy(), hdu.data
            missing = [c for c in columns if data is None or c not in data.columns.names]
            if missing:
                raise SpectrumError(f"{what} {path}: extension {extname} lacks column(s) "
                                    f"{', '.join(missing)}")
            return header, {c: np.array(data[c]) for c in columns}
    except FileNotFoundError:
        raise SpectrumError(f"{what} {path}: file not found") from None
    except KeyError:
        raise SpectrumError(f"{what} {path}: no {extname} extension") from None
    except OSError as exc:
        raise SpectrumError(f"{what} {path}: not a readable FITS file ({exc})") from None


def read_pha(path) -> Spectrum:
    """A type I PHA spectrum, checked: CHANNEL and COUNTS, EXPOSURE > 0."""
    header, cols = _table(path, "SPECTRUM", ("CHANNEL", "COUNTS"), "spectrum")
    exposure = float(header.get("EXPOSURE", 0.0))
    if not exposure > 0:
        raise SpectrumError(f"spectrum {path}: EXPOSURE is {exposure} s; expected > 0")
    return Spectrum(cols["CHANNEL"].astype(int), cols["COUNTS"].astype(float), exposure,
                    float(header.get("BACKSCAL", 1.0)), float(header.get("AREASCAL", 1.0)),
                    str(header.get("BACKFILE", "NONE")), str(header.get("RESPFILE", "NONE")),
                    str(header.get("ANCRFILE", "NONE")), str(path))


def read_arf(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(energ_lo, energ_hi, specresp)`` of an ARF (keV, keV, cm^2)."""
    _, cols = _table(path, "SPECRESP", ("ENERG_LO", "ENERG_HI", "SPECRESP"), "ARF")
    if np.any(cols["SPECRESP"] < 0) or not np.all(np.isfinite(cols["SPECRESP"])):
        raise SpectrumError(f"ARF {path}: SPECRESP must be finite and >= 0")
    return cols["ENERG_LO"].astype(float), cols["ENERG_HI"].astype(float), \
        cols["SPECRESP"].astype(float)


@dataclass
class RMF:
    """A redistribution matrix read back: model energy bins (keV), the dense matrix
    ``(n_energies, n_channels)``, and the channels with their energy bounds (EBOUNDS)."""

    energ_lo: np.ndarray
    energ_hi: np.ndarray
    matrix: np.ndarray
    channel: np.ndarray
    e_min: np.ndarray
    e_max: np.ndarray


def read_rmf(path) -> RMF:
    """An RMF with its matrix made dense (channel groups of any number and layout)."""
    header, cols = _table(path, "MATRIX", ("ENERG_LO", "ENERG_HI", "N_GRP", "F_CHAN",
                                           "N_CHAN", "MATRIX"), "RMF")
    _, eb = _table(path, "EBOUNDS", ("CHANNEL", "E_MIN", "E_MAX"), "RMF")
    channel = eb["CHANNEL"].astype(int)
    first = int(header.get("TLMIN4", channel[0]))
    matrix = np.zeros((cols["ENERG_LO"].size, channel.size))
    for i in range(matrix.shape[0]):  # rows are short: a loop over energies, not pixels
        f = np.atleast_1d(cols["F_CHAN"][i]).astype(int)
        n = np.atleast_1d(cols["N_CHAN"][i]).astype(int)
        values = np.asarray(cols["MATRIX"][i], float).ravel()
        start = 0
        for g in range(int(cols["N_GRP"][i])):
            matrix[i, f[g] - first:f[g] - first + n[g]] = values[start:start + n[g]]
            start += n[g]
    return RMF(cols["ENERG_LO"].astype(float), cols["ENERG_HI"].astype(float), matrix, channel,
               eb["E_MIN"].astype(float), eb["E_MAX"].astype(float))


def check_response(spectrum: Spectrum, arf, rmf: RMF, arf_path="ARF", rmf_path="RMF") -> None:
    """The spectrum, the ARF and the RMF belong together: the same model energy grid in the
    ARF and the RMF, the spectrum's channels among the RMF's; else a SpectrumError naming
    the files."""
    lo_a, hi_a = arf[0], arf[1]
    lo_r, hi_r, channel = rmf.energ_lo, rmf.energ_hi, rmf.channel
    if lo_a.shape != lo_r.shape or not (np.allclose(lo_a, lo_r, rtol=1e-5)
                                        and np.allclose(hi_a, hi_r, rtol=1e-5)):
        raise SpectrumError(f"ARF {arf_path} and RMF {rmf_path}: energy grids differ "
                            f"({lo_a.size} bins {lo_a[:1]}-{hi_a[-1:]} keV against "
                            f"{lo_r.size} bins {lo_r[:1]}-{hi_r[-1:]} keV)")
    if not np.isin(spectrum.channel, channel).all():
        raise SpectrumError(f"spectrum {spectrum.path}: channels {spectrum.channel[0]}-"
                            f"{spectrum.channel[-1]} are not all in RMF {rmf_path} "
                            f"({channel[0]}-{channel[-1]})")


def observation_responses(rmf_paths, arf_paths, weights, grid, margin_kev: float):
    """The responses of a spectrum summed over observations, from their own RMFs and ARFs
    (e.g. made by ``nuproducts``): the weighted means of the observations' matrices and
    areas, on the channels of ``grid`` and the model energies within ``margin_kev`` of them.

    Parameters
    ----------
    rmf_paths : sequence of path-like
        One RMF per observation (module); all on one energy grid and channel scale.
    arf_paths : sequence of path-like or None
        One on-axis ARF (cm^2) per observation on the RMFs' energy grid, or None.
    weights : sequence of float
        Weight of each observation (its exposure).
    grid : xsurvey.spectra.ChannelGrid
        The spectrum's PI channels; the RMFs' EBOUNDS must give them the instrument's
        energies (to 1e-3 keV).
    margin_kev : float
        Model energies kept beyond the channels' range at each end.

    Returns
    -------
    rmf : RMF
        The mean matrix on ``grid``'s channels.
    area : numpy.ndarray or None
        The mean ARF on the kept energies (None without ARFs).

    Raises
    ------
    SpectrumError
        Naming the file: a missing or unreadable file, RMFs or ARFs on another energy grid
        than the first RMF, channels missing or with other energies than the instrument's.
    """
    rmf_paths = [Path(p) for p in rmf_paths]
    w = np.asarray(weights, float) / np.sum(weights)
    first = read_rmf(rmf_paths[0])
    columns = np.searchsorted(first.channel, grid.channels)
    if not (np.isin(grid.channels, first.channel).all()
            and np.allclose(first.e_min[columns], grid.e_min, atol=1e-3)
            and np.allclose(first.e_max[columns], grid.e_max, atol=1e-3)):
        raise SpectrumError(
            f"RMF {rmf_paths[0]}: its channels do not give PI {grid.channels[0]}-"
            f"{grid.channels[-1]} the instrument's energies {grid.e_min[0]:g}-"
            f"{grid.e_max[-1]:g} keV (EBOUNDS)")
    rows = (first.energ_hi > grid.e_min[0] - margin_kev) \
        & (first.energ_lo < grid.e_max[-1] + margin_kev)
    matrix = np.zeros((int(rows.sum()), grid.size))
    for path, weight in zip(rmf_paths, w, strict=True):
        rmf = first if path == rmf_paths[0] else read_rmf(path)
        if not (rmf.energ_lo.shape == first.energ_lo.shape
                and np.allclose(rmf.energ_lo, first.energ_lo, rtol=1e-5)
                and np.array_equal(rmf.channel, first.channel)):
            raise SpectrumError(f"RMF {path}: energy grid or channels differ from RMF "
                                f"{rmf_paths[0]}'s; the observations of a stack need one "
                                f"grid")
        matrix += weight * rmf.matrix[rows][:, columns]
    area = None
    if arf_paths is not None:
        area = np.zeros(int(rows.sum()))
        for path, weight in zip(arf_paths, w, strict=True):
            lo, hi, specresp = read_arf(path)
            if lo.shape != first.energ_lo.shape or not np.allclose(lo, first.energ_lo,
                                                                  rtol=1e-5):
                raise SpectrumError(f"ARF {path}: energy grid ({lo.size} bins) differs from "
                                    f"RMF {rmf_paths[0]}'s ({first.energ_lo.size} bins)")
            area += weight * specresp[rows]
    return RMF(first.energ_lo[rows], first.energ_hi[rows], matrix, grid.channels.copy(),
               grid.e_min.copy(), grid.e_max.copy()), area
