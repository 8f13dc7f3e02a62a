"""Simulated replicas of a survey stack (method.md §7).

Each replica is an independent mock sky observed with the stack's real
exposure and background, **one sky for all bands**: its sources are drawn
from the source population (:mod:`xsurvey.population`; each with its own
spectrum), their counts are drawn in the *elementary* energy intervals cut
by the band edges (NuSTAR 3-8, 8-16, 16-24 keV) together with the smooth
background of each interval, and the composite bands (8-24, 3-24 keV) are
the sums of their intervals' images, exactly as real events are binned.
Every band is then analysed with the detection, deblending and photometry
code used on the real data (:class:`xsurvey.detect.Detector`) and its
detections are matched to the inputs (:func:`match_sources`).

A replica's random stream comes from (global seed, stack, replica index)
only, so a replica is the same sky whatever the chunking, the bands
processed, or the job that runs it.
"""

from __future__ import annotations

import logging
import zlib

import numpy as np
import pandas as pd

from xsurvey.instrument.core import band_suffix
from xsurvey.simulate.match import match_sources
from xsurvey.simulate.render import band_image, render
from xsurvey.simulate.setup import ReplicaSetup

log = logging.getLogger(__name__)


#: Per-band columns of the detection table, from :meth:`xsurvey.detect.Detector.detect_arrays`.
MEASURED_COLUMNS = ("ra", "dec", "det_ml", "det_ml_raw", "exposure_ks", "counts", "bkg",
                    "bkg_deblended", "net", "rate", "flux", "snr")


#: Columns of the replica detection table (see :func:`run_replica`).
DETECTION_COLUMNS = ("band", "replica", *MEASURED_COLUMNS, "input_id", "input_flux",
                     "input_flux_ref", "separation_arcsec", "input_share")


#: Source columns of the replica input table; per band ``<name>_<band suffix>`` follow.
INPUT_COLUMNS = ("replica", "input_id", "ra", "dec", "flux_int", "flux_ref", "photon_index",
                 "nh", "redshift")


#: Per-band columns of the replica input table.
INPUT_BAND_COLUMNS = ("flux", "exposure_ks", "matched", "det_ml", "det_exposure_ks")


def replica_seed(seed: int, stack: str, index: int, purpose: str = "") -> np.random.SeedSequence:
    """Seed of one replica from its identity (stable across processes and chunkings).

    The band is not part of it: all bands of a replica share its sky.
    ``purpose`` separates other simulations of the same replica index (e.g.
    the per-epoch replicas of the variability test).
    """
    return np.random.SeedSequence([int(seed), zlib.crc32(stack.encode()),
                                   zlib.crc32(purpose.encode()), int(index)])


def draw_inputs(setup: ReplicaSetup, rng: np.random.Generator) -> dict:
    """Input sources of one replica, uniform over the exposed pixels.

    Draw order: number, intrinsic fluxes, spectra, pixels, sub-pixel offsets.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (0-based pixel) and ``pixel`` (flat index); ``flux_int``
        (intrinsic counts-band flux), ``photon_index, nh, redshift``;
        ``flux`` ``(n, n_bands)`` observed band fluxes and ``flux_ref``
        (reference band), erg cm^-2 s^-1; ``rate``
        ``(n, n_elements)`` count rate of one module on axis (ct/s) and
        ``mu`` ``(n, n_elements)`` expected total counts (FPMA+B) at the
        source position in each elementary interval.
    """
    pop = setup.population
    n = int(rng.poisson(setup.expected_sources))
    flux_int = pop.intrinsic.draw_fluxes(rng, n)
    gamma, nh, z = pop.draw_spectra(rng, n)
    pix = setup._pixels[rng.integers(0, setup._pixels.size, n)]
    iy, ix = np.divmod(pix, setup.shape[1])
    x = ix + rng.uniform(-0.5, 0.5, n)
    y = iy + rng.uniform(-0.5, 0.5, n)
    flux_ratio, rate_ratio = pop.conversions(gamma, nh, z)
    rate = np.column_stack([flux_int * rate_ratio[:, e.columns].sum(axis=1)
                            for e in setup.elements])
    mu = rate * np.column_stack([e.exposure.flat[pix] for e in setup.elements])
    return {"x": x, "y": y, "pixel": pix, "flux_int": flux_int, "photon_index": gamma, "nh": nh,
            "redshift": z, "flux": flux_int[:, None] * flux_ratio[:, setup._band_columns],
            "flux_ref": flux_int * flux_ratio[:, setup._ref_column], "rate": rate, "mu": mu}


def run_replica(setup: ReplicaSetup, index: int):
    """Simulate one replica, detect in every band and match the detections.

    Returns
    -------
    detections : dict of numpy.ndarray
        :data:`DETECTION_COLUMNS`, all bands (``band`` column).
    inputs : dict of numpy.ndarray
        :data:`INPUT_COLUMNS` and per band :data:`INPUT_BAND_COLUMNS`
        (``<name>_<band suffix>``).
    """
    inputs, images = replica_sky(setup, index)
    n_in = inputs["x"].size
    in_ra, in_dec = setup.wcs.wcs_pix2world(inputs["x"], inputs["y"], 0)
    inputs_out = {
        "replica": np.full(n_in, index, dtype=np.int32),
        "input_id": np.arange(n_in, dtype=np.int64), "ra": in_ra, "dec": in_dec,
        **{k: inputs[k] for k in INPUT_COLUMNS[4:]},
    }
    detections = []
    radius = setup.match_radius_arcsec / setup.pixel_arcsec
    for b, band in enumerate(setup.bands):
        det = setup.detectors[band].detect_arrays(band_image(setup, images, band))
        mu = inputs["mu"][:, list(setup.members[band])].sum(axis=1)
        det_to_in, sep_pix, share = match_sources(
            det["x"], det["y"], det["net"], inputs["x"], inputs["y"], mu,
            inputs["flux"][:, b], radius, setup.aperture_fraction, setup.truth,
            setup.truth_share)
        n_det = det_to_in.size
        detections.append({
            "band": np.full(n_det, band, dtype=object),
            "replica": np.full(n_det, index, dtype=np.int32),
            **{k: det[k] for k in MEASURED_COLUMNS},
            "input_id": det_to_in,
            "input_flux": _take(inputs["flux"][:, b], det_to_in),
            "input_flux_ref": _take(inputs["flux_ref"], det_to_in),
            "separation_arcsec": sep_pix * setup.pixel_arcsec,
            "input_share": share,
        })
        matched = det_to_in >= 0
        in_det = np.full(n_in, -1, dtype=np.int64)
        in_det[det_to_in[matched]] = np.flatnonzero(matched)
        sfx = band_suffix(band)
        inputs_out[f"flux_{sfx}"] = inputs["flux"][:, b]
        inputs_out[f"exposure_ks_{sfx}"] = setup.detectors[band].exposure.flat[
            inputs["pixel"]] / 1e3
        inputs_out[f"matched_{sfx}"] = in_det >= 0
        inputs_out[f"det_ml_{sfx}"] = _take(det["det_ml"], in_det)
        inputs_out[f"det_exposure_ks_{sfx}"] = _take(det["exposure_ks"], in_det)
    return ({k: np.concatenate([d[k] for d in detections]) for k in DETECTION_COLUMNS},
            inputs_out)


def run_replicas(setup: ReplicaSetup, indices, progress_every: int = 10):
    """Run several replicas; returns (detections, inputs) DataFrames in replica order."""
    dets, ins = [], []
    indices = list(indices)
    for k, i in enumerate(indices, 1):
        d, inp = run_replica(setup, i)
        dets.append(pd.DataFrame(d))
        ins.append(pd.DataFrame(inp))
        if k % progress_every == 0 or k == len(indices):
            log.info("%s: replica %d/%d done (%d detections in %d bands, %d inputs)",
                     setup.stack, k, len(indices), len(d["replica"]), len(setup.bands),
                     len(inp["replica"]))
    if not dets:
        return (pd.DataFrame({c: [] for c in DETECTION_COLUMNS}),
                pd.DataFrame({c: [] for c in INPUT_COLUMNS}))
    return pd.concat(dets, ignore_index=True), pd.concat(ins, ignore_index=True)


def band_inputs(inputs: pd.DataFrame, band: str) -> pd.DataFrame:
    """One band's view of a replica input table (``flux, exposure_ks, matched, det_ml,
    det_exposure_ks`` of that band, with ``replica, input_id, flux_ref``)."""
    sfx = band_suffix(band)
    return pd.DataFrame({"replica": inputs["replica"].to_numpy(),
                         "input_id": inputs["input_id"].to_numpy(),
                         "flux_ref": inputs["flux_ref"].to_numpy(),
                         **{c: inputs[f"{c}_{sfx}"].to_numpy() for c in INPUT_BAND_COLUMNS}})


def _take(values, index):
    """``values[index]`` with NaN where ``index`` is -1."""
    out = np.full(len(index), np.nan)
    ok = index >= 0
    out[ok] = np.asarray(values, float)[index[ok]]
    return out


def replica_sky(setup: ReplicaSetup, index: int):
    """Input sources and elementary-interval images of one replica (its own stream).

    Returns
    -------
    inputs : dict
        :func:`draw_inputs`.
    images : list of numpy.ndarray
        :func:`render`; a band's image is :func:`band_image` of these.
    """
    rng = np.random.default_rng(replica_seed(setup.seed, setup.stack, index))
    inputs = draw_inputs(setup, rng)
    return inputs, render(setup, inputs, rng)
