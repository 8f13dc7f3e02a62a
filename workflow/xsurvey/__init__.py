"""xsurvey: science package of the xsurvey deep X-ray survey pipeline."""

__version__ = "0.1.0"
