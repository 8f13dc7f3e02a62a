"""Checks of one observation's input files against each other (before any mosaic).

A survey astronomer's files can each be well formed and still not belong together: an
exposure map in ks or of another pointing, an event file with no events or PI channels of
another instrument, a background map with negative FCXB, the same events under two
observations. Each of these would quietly change the catalogue. :func:`check_observation`
reads one observation (its events, and its exposure and background maps in every band),
raises :class:`xsurvey.io.InputError` naming the file and what was expected, returns the
warnings for what is merely suspicious (a band without events), and summarises the
observation (pointing, GTI total, counts per band, a digest of the events) for the checks
across observations (:func:`duplicate_events`).

Tolerances are instrument facts (``checks`` in the instrument file): the PI channel range,
the ratio of the exposure map's maximum to the GTI total, and how far the exposure map's
centre may lie from the events'.
"""

from __future__ import annotations

import hashlib

import numpy as np
from astropy.io import fits

from xsurvey.io import InputError, read_background, read_events, read_image


def gti_total(path) -> float:
    """Summed good time (s) of an event file's ``GTI`` extension (``START``, ``STOP``)."""
    with fits.open(path, memmap=False) as hdul:
        gti = hdul["GTI"].data
        try:
            start, stop = np.asarray(gti["START"], float), np.asarray(gti["STOP"], float)
        except KeyError:
            raise InputError(f"event file {path}: GTI lacks START/STOP columns") from None
    if start.size == 0 or np.any(stop < start):
        raise InputError(f"event file {path}: GTI is empty or has STOP < START")
    return float(np.sum(stop - start))


def _centre_deg(image, wcs):
    """Weighted centroid of an image on the sky, (ra, dec) in degrees."""
    w = np.clip(np.nan_to_num(image), 0.0, None)
    iy, ix = np.indices(w.shape)
    x, y = (w * ix).sum() / w.sum(), (w * iy).sum() / w.sum()
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    return float(ra), float(dec)


def _separation_arcmin(a, b) -> float:
    ra1, dec1, ra2, dec2 = np.radians([a[0], a[1], b[0], b[1]])
    cos = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) * 60.0)


def check_observation(row: dict, instrument, bands) -> tuple[dict, list]:
    """Check one observation's files against each other.

    Parameters
    ----------
    row : dict
        ``obs_id, module, events`` and per band ``exposure`` / ``background``
        paths (``{"exposure": {band: path}, "background": {band: path or ""}}``).
    instrument : xsurvey.instrument.Instrument
        PI-to-energy relation, bands and ``checks`` tolerances.
    bands : sequence of str
        Processed bands.

    Returns
    -------
    summary : dict
        ``obs_id, module, n_events, counts`` (per band), ``gti_s``,
        ``exposure_max_s`` (per band), ``ra_pnt, dec_pnt`` (the events'
        centre, deg), ``events_sha1`` (digest of the event list).
    warnings : list of str

    Raises
    ------
    xsurvey.io.InputError
        Naming the file and what was expected.
    """
    tol = instrument.checks
    name = f"observation {row['obs_id']} {row['module']}"
    events, ev_wcs, _ = read_events(row["events"])
    ev_file = row["events"]
    if len(events) == 0:
        raise InputError(f"{name}: event file {ev_file} has no events")
    pi = np.asarray(events["PI"])
    lo, hi = tol["pi_range"]
    bad = (pi < lo) | (pi > hi)
    if bad.any():
        raise InputError(f"{name}: event file {ev_file}: {int(bad.sum())} events with PI "
                         f"outside {lo}-{hi} (e.g. {int(pi[bad][0])}): events of another "
                         f"instrument, or another column as PI?")
    counts = {}
    for band in bands:
        p_lo, p_hi = instrument.pi_range(band)
        counts[band] = int(np.count_nonzero((pi >= p_lo) & (pi < p_hi)))
    warnings = [f"{name}: event file {ev_file} has no events in band {b} keV"
                for b, n in counts.items() if n == 0]
    if not any(counts.values()):
        raise InputError(f"{name}: event file {ev_file} has {len(events)} events but none in "
                         f"the bands {', '.join(bands)} keV (PI {int(pi.min())}-"
                         f"{int(pi.max())}; all PI = {int(pi[0])}?)")
    gti = gti_total(ev_file)
    x, y = np.asarray(events["X"], float), np.asarray(events["Y"], float)
    centre = ev_wcs.wcs_pix2world(np.mean(x), np.mean(y), 1)
    centre = (float(centre[0]), float(centre[1]))
    r_lo, r_hi = tol["exposure_gti_ratio"]
    exposure_max = {}
    for band in bands:
        path = row["exposure"][band]
        expo, wcs, _ = read_image(path, "exposure map", allow_negative=False)
        top = float(expo.max())
        if top <= 0:
            raise InputError(f"{name}: exposure map {path} is zero everywhere")
        ratio = top / gti
        if not r_lo <= ratio <= r_hi:
            hint = " (in ks?)" if 5e-4 < ratio < 2e-3 else ""
            raise InputError(
                f"{name}: exposure map {path} peaks at {top:.6g} s for {gti:.6g} s of good "
                f"time in {ev_file}: expected {r_lo:g}-{r_hi:g} times the good time{hint}")
        off = _separation_arcmin(_centre_deg(expo, wcs), centre)
        if off > tol["pointing_tolerance_arcmin"]:
            raise InputError(
                f"{name}: exposure map {path} is centred {off:.1f}' from the events of "
                f"{ev_file} (tolerance {tol['pointing_tolerance_arcmin']:g}'): the map of "
                "another pointing?")
        exposure_max[band] = top
        background = row["background"].get(band)
        if background:
            read_background(background)       # finite, non-negative, FCXB included
    with open(ev_file, "rb") as fh:
        digest = hashlib.sha1(fh.read()).hexdigest()
    return ({"obs_id": str(row["obs_id"]), "module": str(row["module"]),
             "n_events": int(len(events)), "counts": counts, "gti_s": gti,
             "exposure_max_s": exposure_max, "ra_pnt": centre[0], "dec_pnt": centre[1],
             "events_sha1": digest}, warnings)


def check_duplicates(summaries, where: str) -> None:
    """Raise :class:`xsurvey.io.InputError` if two observations have the same events.

    Parameters
    ----------
    summaries : sequence of dict
        :func:`check_observation` summaries, e.g. of the observations of a stack.
    where : str
        What they belong to, for the message (e.g. ``"stack all"``).
    """
    for a, b in duplicate_events(summaries):
        raise InputError(f"{where}: observations {a} and {b} have the same event file content: "
                         "one observation listed twice?")


def duplicate_events(summaries) -> list:
    """Pairs of observations whose event lists are the same file content.

    Parameters
    ----------
    summaries : sequence of dict
        :func:`check_observation` summaries.

    Returns
    -------
    list of (str, str)
        ``"obs_id module"`` pairs.
    """
    seen, pairs = {}, []
    for s in summaries:
        key = f"{s['obs_id']} {s['module']}"
        if s["events_sha1"] in seen:
            pairs.append((seen[s["events_sha1"]], key))
        else:
            seen[s["events_sha1"]] = key
    return pairs
