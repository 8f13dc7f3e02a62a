"""Shared fixtures: the NuSTAR instrument model and a small TAN grid."""

from pathlib import Path

import numpy as np
import pytest

from xsurvey.config import default_config
from xsurvey.instrument import load_instrument
from xsurvey.mosaic import make_grid
from xsurvey.population import population_from_config

from .workflow_utils import make_workdir, run_snakemake, tiny_config, tiny_observations

REPO = Path(__file__).resolve().parents[1]
NUSTAR = REPO / "resources" / "instruments" / "nustar.yaml"


@pytest.fixture(scope="session")
def nustar():
    return load_instrument(NUSTAR)


@pytest.fixture(scope="session")
def population(nustar):
    """The default configuration's source population (config/template.yaml)."""

    cfg = default_config(REPO)
    return population_from_config(cfg["population"], nustar)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny demo run (:func:`tests.workflow_utils.tiny_config`), shared by tests
    that only read it or add to it (report, restart and SLURM references)."""

    work = make_workdir(tmp_path_factory.mktemp("tiny_run"), tiny_config(), tiny_observations())
    run_snakemake(work)
    return work


@pytest.fixture
def grid(nustar):
    """A 200 x 240 pixel grid at the NuSTAR sky pixel."""
    pix = nustar.pixel_arcsec
    return make_grid((150.1, 2.25), (240 * pix / 60, 200 * pix / 60), pix)


def place(shape, sources, kernel):
    """Expected-counts image of point sources at integer pixels (x, y, total counts)."""
    img = np.zeros(shape)
    h = kernel.shape[0] // 2
    for x, y, c in sources:
        y0, y1 = max(y - h, 0), min(y + h + 1, shape[0])
        x0, x1 = max(x - h, 0), min(x + h + 1, shape[1])
        img[y0:y1, x0:x1] += c * kernel[y0 - (y - h):y1 - (y - h), x0 - (x - h):x1 - (x - h)]
    return img
