"""Rendering of one replica's sky: Poisson counts of the background and of every
source's PSF-spread counts, in all bands from one sky (method.md §7)."""

from __future__ import annotations

import numpy as np
from numba import njit

from xsurvey.simulate.sampling import PSF_TABLE_BITS
from xsurvey.simulate.setup import ReplicaSetup


def source_image(setup: ReplicaSetup, x, y, mu, rng: np.random.Generator):
    """Poisson counts of sources spread with the PSF.

    Each source's counts are Poisson (mean ``mu`` x EEF(kernel radius)); every
    count is placed at a radius drawn from the PSF and a uniform angle
    (:func:`psf_offset_tables`), then binned. This is a Poisson realisation
    of the PSF-convolved source image at a cost proportional to the number
    of source counts, not pixels.

    Parameters
    ----------
    x, y : array_like
        0-based pixel positions.
    mu : array_like
        Expected total counts of each source (whole PSF).

    Returns
    -------
    numpy.ndarray (int32)
        Source counts per pixel.
    """
    n_counts = rng.poisson(np.asarray(mu, float) * setup._eef_max)
    draw = rng.integers(0, 2 ** (2 * PSF_TABLE_BITS), int(n_counts.sum()),
                        dtype=np.uint32)                            # PSF_TABLE_BITS <= 16
    return _bin_psf_counts(np.asarray(x, np.float64), np.asarray(y, np.float64), n_counts,
                           draw, *setup._psf_offsets, PSF_TABLE_BITS, *setup.shape)


@njit(cache=True)
def _bin_psf_counts(x, y, n_counts, draw, radius, cos, sin, bits, ny, nx):  # pragma: no cover
    """Image of ``n_counts[s]`` counts per source placed by the PSF tables (compiled).

    Count ``k`` (sources in order) goes to the pixel nearest to its source's
    position plus ``radius[draw[k] >> bits]`` along direction ``draw[k] &
    (2**bits - 1)`` (:func:`psf_offset_tables`); counts off the map are lost.
    """
    image = np.zeros((ny, nx), np.int32)
    low = (1 << bits) - 1
    k = 0
    for s in range(n_counts.size):
        for _ in range(n_counts[s]):
            r = radius[draw[k] >> bits]
            j = draw[k] & low
            k += 1
            ix = int(np.rint(x[s] + r * cos[j]))
            iy = int(np.rint(y[s] + r * sin[j]))
            if 0 <= ix < nx and 0 <= iy < ny:
                image[iy, ix] += 1
    return image




def render(setup: ReplicaSetup, inputs: dict, rng: np.random.Generator) -> list:
    """Counts images of one replica, one per elementary interval.

    Each interval's image is a Poisson realisation of its smooth background
    plus its sources spread with the PSF (:func:`source_image`).
    """
    images = []
    for k, e in enumerate(setup.elements):
        sources = source_image(setup, inputs["x"], inputs["y"], inputs["mu"][:, k], rng)
        images.append(e.field.add_to(sources, rng))
    return images


def band_image(setup: ReplicaSetup, images: list, band: str) -> np.ndarray:
    """Counts image of a band: the sum of its elementary intervals' images."""
    members = setup.members[band]
    if len(members) == 1:
        return images[members[0]]
    return np.sum([images[k] for k in members], axis=0, dtype=images[members[0]].dtype)
