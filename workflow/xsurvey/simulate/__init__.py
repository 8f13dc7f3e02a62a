"""Replicas of the survey (simulate.smk): the sky of a population rendered through the
stack's exposure, background and PSF in all bands, detected like the data and matched
to its inputs. ``chunks`` (the replica files' integrity, needs pyarrow) is imported
by the workflow itself, not re-exported here.
"""

from .match import (
    TRUTH_RULES,
    match_sources,
)
from .render import (
    band_image,
    render,
    source_image,
)
from .replicas import (
    DETECTION_COLUMNS,
    INPUT_BAND_COLUMNS,
    INPUT_COLUMNS,
    MEASURED_COLUMNS,
    band_inputs,
    draw_inputs,
    replica_seed,
    replica_sky,
    run_replica,
    run_replicas,
)
from .sampling import (
    PSF_TABLE_BITS,
    PoissonField,
    psf_offset_tables,
)
from .setup import (
    Element,
    ReplicaSetup,
    bright_source_counts,
    expected_source_counts,
    fcxb_scale,
    make_setup,
    setup_from_files,
)

__all__ = [
    "DETECTION_COLUMNS",
    "Element",
    "INPUT_BAND_COLUMNS",
    "INPUT_COLUMNS",
    "MEASURED_COLUMNS",
    "PSF_TABLE_BITS",
    "PoissonField",
    "ReplicaSetup",
    "TRUTH_RULES",
    "band_image",
    "band_inputs",
    "bright_source_counts",
    "draw_inputs",
    "expected_source_counts",
    "fcxb_scale",
    "make_setup",
    "match_sources",
    "psf_offset_tables",
    "render",
    "replica_seed",
    "replica_sky",
    "run_replica",
    "run_replicas",
    "setup_from_files",
    "source_image",
]
