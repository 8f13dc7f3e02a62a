"""X-ray spectra of the catalogue sources: extraction, responses and fits (method.md §15)."""

# the spectra settings that the extraction reads (the fits read the rest)
SPECTRA = config.get("spectra", {})
EXTRACTION = {k: SPECTRA[k] for k in ("band", "annulus_arcsec", "mask_arcsec")}
# the catalogue whose counterpart redshifts the fits use
SPECTRA_CATALOG = (
    "results/counterparts/{stack}/catalog_extended.fits"
    if ANCILLARY
    else f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits"
)


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
    """Staged W-statistic fits of one chunk of the sources: photon index, column density,
    flux and luminosities."""
    input:
        instrument=INSTRUMENT_FILE,
        files="results/spectra/{stack}/files",
        table="results/spectra/{stack}/extraction.csv",
        catalog=SPECTRA_CATALOG,
    output:
        "results/spectra/{stack}/fits/{chunk}.csv",
    log:
        "logs/spectra/fit_{stack}_{chunk}.log",
    benchmark:
        "results/benchmarks/spectra_fit/{stack}_{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("spectra/spectra_fit.py"),
        spectra={
            k: v
            for k, v in SPECTRA.items()
            if k not in ("fit_jobs", "n_figure_sources")
        },
        n_chunks=SPECTRA["fit_jobs"],
    script:
        "../scripts/spectra/spectra_fit.py"


rule spectra_table:
    """The fits of all chunks of a stack in one table, in catalogue order."""
    input:
        unpack(
            named_inputs(
                "chunks",
                "results/spectra/{stack}/fits/{chunk}.csv",
                chunk=list(range(SPECTRA["fit_jobs"])),
            )
        ),
        table="results/spectra/{stack}/extraction.csv",
    output:
        "results/spectra/{stack}/fits.csv",
    log:
        "logs/spectra/table_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("spectra/spectra_table.py"),
        band=SPECTRA["band"],
    script:
        "../scripts/spectra/spectra_table.py"


rule spectra_figures:
    """The spectra of the brightest fitted sources with their best fits and residuals."""
    input:
        instrument=INSTRUMENT_FILE,
        files="results/spectra/{stack}/files",
        table="results/spectra/{stack}/extraction.csv",
        fits="results/spectra/{stack}/fits.csv",
    output:
        report_item(
            "results/figures/{stack}/spectra.png",
            REPORT_CHARACTERISE,
            "Spectra",
            "spectra",
            "spectra of the brightest sources with their fits",
        ),
    log:
        "logs/spectra/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("spectra/spectra_figures.py"),
        spectra={k: SPECTRA[k] for k in ("group_channels", "scattered_fraction")},
        n_sources=SPECTRA["n_figure_sources"],
    script:
        "../scripts/spectra/spectra_figures.py"
