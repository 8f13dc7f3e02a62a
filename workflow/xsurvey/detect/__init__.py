"""Source detection (detect.smk): false-probability maps, peaks, DET_ML, deblending and
aperture photometry with Poisson errors and upper limits.
"""

from .columns import (
    DETECTION_COLUMNS,
    detection_table,
    empty_detection_columns,
    empty_detection_table,
)
from .deblend import (
    aperture_matrix,
    aperture_pairs,
    deblend,
    neighbour_light,
    solve_deblend,
)
from .detector import (
    DetectionParameters,
    Detector,
    detect_sources,
    detection_parameters,
    pixel_scale_arcsec,
)
from .peaks import (
    find_peaks,
    suppress_close_peaks,
)
from .photometry import (
    FORCED_COLUMNS,
    SIGMA_1,
    SIGMA_90,
    Aperture,
    aperture_corrected_flux,
    aperture_sum,
    aperture_sums,
    count_rate,
    forced_photometry,
    gehrels_lower,
    gehrels_upper,
    net_errors,
    net_upper_limit,
    photometry_columns,
    psf_weighted_exposure,
    signal_to_noise,
    value_at,
)
from .poisson import (
    LN10,
    ThresholdTailTable,
    det_ml,
    integer_threshold_counts,
    log_poisson_tail,
    neg_log10_pfalse,
    threshold_counts,
)
from .smoothing import (
    FFTConvolver,
    PixelGrids,
    RunSum,
    tophat_kernel,
)

__all__ = [
    "Aperture",
    "DETECTION_COLUMNS",
    "DetectionParameters",
    "Detector",
    "FFTConvolver",
    "FORCED_COLUMNS",
    "LN10",
    "PixelGrids",
    "RunSum",
    "SIGMA_1",
    "SIGMA_90",
    "ThresholdTailTable",
    "aperture_corrected_flux",
    "aperture_matrix",
    "aperture_pairs",
    "aperture_sum",
    "aperture_sums",
    "count_rate",
    "deblend",
    "det_ml",
    "detect_sources",
    "detection_parameters",
    "detection_table",
    "empty_detection_columns",
    "empty_detection_table",
    "find_peaks",
    "forced_photometry",
    "gehrels_lower",
    "gehrels_upper",
    "integer_threshold_counts",
    "log_poisson_tail",
    "neg_log10_pfalse",
    "neighbour_light",
    "net_errors",
    "net_upper_limit",
    "photometry_columns",
    "pixel_scale_arcsec",
    "psf_weighted_exposure",
    "signal_to_noise",
    "solve_deblend",
    "suppress_close_peaks",
    "threshold_counts",
    "tophat_kernel",
    "value_at",
]
