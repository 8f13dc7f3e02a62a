"""Matching of detections to the input sources of a replica: a detection is real only
when one input within the match radius gives at least a quarter of its net counts
(method.md §7)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: Truth rules of :func:`match_sources`.
TRUTH_RULES = ("flux", "position")


def match_sources(det_x, det_y, det_net, in_x, in_y, in_mu, in_flux, radius_pix: float,
                  aperture_fraction, rule: str = "flux", share: float = 0.25):
    """Match detections to inputs one-to-one: which detections are real (method.md §7.5).

    ``rule="flux"``: a detection-input pair within ``radius_pix`` qualifies
    when the input's expected counts in the detection's aperture,
    ``mu x aperture_fraction(separation)``, are at least ``share`` of the
    detection's net counts (which must be positive); pairs are taken by
    decreasing contribution, each detection and input used once. A faint
    input that merely lies near a noise peak does not make it real, and a
    second detection in the wings of a bright source is not real either
    (its input is taken by the first).

    ``rule="position"`` (the seed papers'): any input within the radius
    qualifies; inputs are taken by decreasing flux, each with the nearest
    unmatched detection.

    Parameters
    ----------
    det_x, det_y, det_net : array_like
        Detection positions (pixels) and net counts in the aperture.
    in_x, in_y, in_mu, in_flux : array_like
        Input positions (pixels), expected total counts and flux (band).
    radius_pix : float
        Match radius, pixels.
    aperture_fraction : callable
        Separation (pixels) -> fraction of a source's counts in the aperture.
    rule : {"flux", "position"}
    share : float
        Minimum share of the net counts (``flux`` rule).

    Returns
    -------
    det_to_input : numpy.ndarray of int
        For each detection the index of its input, -1 if it is spurious.
    separation : numpy.ndarray
        Detection-input separation in pixels (NaN if unmatched).
    input_share : numpy.ndarray
        Expected counts of the matched input in the aperture / net counts
        (NaN if unmatched).
    """
    n_det = len(det_x)
    det_to_input = np.full(n_det, -1, dtype=np.int64)
    separation = np.full(n_det, np.nan)
    shares = np.full(n_det, np.nan)
    if n_det == 0 or len(in_x) == 0:
        return det_to_input, separation, shares
    pairs = cKDTree(np.c_[det_x, det_y]).sparse_distance_matrix(
        cKDTree(np.c_[in_x, in_y]), radius_pix, output_type="coo_matrix")
    d, j, dist = pairs.row, pairs.col, pairs.data
    net = np.asarray(det_net, float)[d]
    contrib = np.asarray(in_mu, float)[j] * aperture_fraction(dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        pair_share = np.where(net > 0, contrib / net, np.nan)
    if rule == "flux":
        ok = (net > 0) & (contrib >= share * net)
        d, j, dist, contrib, pair_share = (v[ok] for v in (d, j, dist, contrib, pair_share))
        order = np.lexsort((j, d, dist, -contrib))
    elif rule == "position":
        order = np.lexsort((d, dist, -np.asarray(in_flux, float)[j]))
    else:
        raise ValueError(f"unknown truth rule {rule!r}; expected one of {TRUTH_RULES}")
    used_input = np.zeros(len(in_x), dtype=bool)
    for k in order:  # qualifying pairs only: about one per detection
        if det_to_input[d[k]] < 0 and not used_input[j[k]]:
            det_to_input[d[k]] = j[k]
            separation[d[k]] = dist[k]
            shares[d[k]] = pair_share[k]
            used_input[j[k]] = True
    return det_to_input, separation, shares
