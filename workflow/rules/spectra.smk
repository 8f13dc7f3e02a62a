"""X-ray spectra of the catalogue sources: extraction, responses and fits (method.md §15)."""

# the spectra settings that the extraction reads (the fits read the rest)
SPECTRA = config.get("spectra", {})
EXTRACTION = {k: SPECTRA[k] for k in ("band", "annulus_arcsec", "mask_arcsec")}


rule spectra_extract:
    """Source and background spectra of the 95% catalogue's sources, ARFs and the RMF."""
    input:
        unpack(stack_events),
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
    output:
        files=directory("results/spectra/{stack}/files"),
        table="results/spectra/{stack}/extraction.csv",
    log:
        "logs/spectra/extract_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("spectra/spectra_extract.py"),
        spectra=EXTRACTION,
        bands=BANDS,
    script:
        "../scripts/spectra/spectra_extract.py"


rule spectra_fit:
    """Staged W-statistic fits: photon index, column density, flux and luminosities."""
    input:
        instrument=INSTRUMENT_FILE,
        files="results/spectra/{stack}/files",
        table="results/spectra/{stack}/extraction.csv",
        catalog=(
            "results/counterparts/{stack}/catalog_extended.fits"
            if ANCILLARY
            else f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits"
        ),
    output:
        "results/spectra/{stack}/fits.csv",
    log:
        "logs/spectra/fit_{stack}.log",
    benchmark:
        "results/benchmarks/spectra_fit/{stack}.tsv"
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("spectra/spectra_fit.py"),
        spectra=SPECTRA,
    script:
        "../scripts/spectra/spectra_fit.py"
