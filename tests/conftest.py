"""Shared fixtures: the NuSTAR instrument model and a small TAN grid."""

from pathlib import Path

import pytest

from xsurvey.instrument import load_instrument
from xsurvey.mosaic import make_grid

REPO = Path(__file__).resolve().parents[1]
NUSTAR = REPO / "resources" / "instruments" / "nustar.yaml"


@pytest.fixture(scope="session")
def nustar():
    return load_instrument(NUSTAR)


@pytest.fixture
def grid(nustar):
    """A 200 x 240 pixel grid at the NuSTAR sky pixel."""
    pix = nustar.pixel_arcsec
    return make_grid((150.1, 2.25), (240 * pix / 60, 200 * pix / 60), pix)
