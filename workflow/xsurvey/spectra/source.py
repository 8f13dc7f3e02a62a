"""A catalogue source's extracted spectrum, read back from its OGIP files and made ready to
fit or draw: grouped counts, background, alpha and the model folded through its response."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from xsurvey.spectra.fit import AbsorbedPowerLaw, Response, SpectralFit, group
from xsurvey.spectra.ogip import Spectrum, check_response, read_arf, read_pha


def region_scaling(source: Spectrum, background: Spectrum) -> float:
    """``alpha``: background-region counts times alpha are the background expected in the
    source region (ratio of EXPOSURE x BACKSCAL)."""
    return (source.exposure_s * source.backscal) / (background.exposure_s * background.backscal)


@dataclass
class SourceSpectrum:
    """Grouped source and background counts, their channels' energies and the model."""

    counts: np.ndarray
    background: np.ndarray
    alpha: float
    e_min: np.ndarray
    e_max: np.ndarray
    exposure_s: float
    model: AbsorbedPowerLaw

    def fitter(self, redshift: float | None = None) -> SpectralFit:
        """The W-statistic fit of this spectrum (with the model at ``redshift`` if given,
        e.g. 0 for the observed-frame column density)."""
        model = self.model if redshift is None else replace(self.model, redshift=redshift)
        return SpectralFit(model.counts, self.counts, self.background, self.alpha)


def load_source_spectrum(files, stem: str, rmf, instrument, redshift: float,
                         group_channels: int, scattered_fraction: float = 0.0,
                         line_ew_kev: float = 0.0, rmf_path="response.rmf") -> SourceSpectrum:
    """Read ``<stem>.pha`` and the background and ARF it names from ``files``, check them
    against the RMF (:func:`xsurvey.spectra.read_rmf`) and group every ``group_channels``
    channels; the channels' energies come from the RMF's EBOUNDS.

    ``redshift``: of the absorber and the line (NaN or None: observed frame, z = 0);
    ``scattered_fraction`` and ``line_ew_kev`` (rest frame, keV) fixed parts of the model.
    """
    files = Path(files)
    pha = read_pha(files / f"{stem}.pha")
    bkg = read_pha(files / pha.backfile)
    arf = read_arf(files / pha.ancrfile)
    check_response(pha, arf, rmf, files / pha.ancrfile, files / rmf_path)
    columns = np.searchsorted(rmf.channel, pha.channel)
    response = Response(arf[0], arf[1], arf[2], rmf.matrix[:, columns],
                        pha.exposure_s).grouped(group_channels)
    z = float(redshift) if redshift is not None and np.isfinite(redshift) else 0.0
    model = AbsorbedPowerLaw(response, z, instrument.nh_galactic_cm2, instrument.absorber,
                             scattered_fraction, line_ew_kev)
    n = columns.size // group_channels * group_channels
    return SourceSpectrum(group(pha.counts, group_channels), group(bkg.counts, group_channels),
                          region_scaling(pha, bkg),
                          rmf.e_min[columns][:n:group_channels],
                          rmf.e_max[columns][group_channels - 1:n:group_channels],
                          pha.exposure_s, model)
