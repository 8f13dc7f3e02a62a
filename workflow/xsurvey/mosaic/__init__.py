"""Epoch and stack mosaics of counts, exposure and background (mosaic.smk): the fixed
TAN grid, event binning, reprojection, the background of observations without maps.
"""

from .background import (
    estimate_background,
    fcxb_component,
)
from .grid import (
    MAP_KINDS,
    PixelMapping,
    bin_events,
    exposure_on,
    make_grid,
    observation_maps,
    pixel_mapping,
    reproject_map,
    sum_maps,
    tan_wcs,
)

__all__ = [
    "MAP_KINDS",
    "PixelMapping",
    "bin_events",
    "estimate_background",
    "exposure_on",
    "fcxb_component",
    "make_grid",
    "observation_maps",
    "pixel_mapping",
    "reproject_map",
    "sum_maps",
    "tan_wcs",
]
