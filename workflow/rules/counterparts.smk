"""Counterparts: soft X-ray association and likelihood-ratio identification (method.md §11)."""

ANCILLARY = config.get("counterparts", {}).get("catalogs", [])


rule counterparts:
    """Soft X-ray and optical/IR counterparts of the 95% catalogue; extended catalogue."""
    input:
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        positions="results/calibration/{stack}/positions.csv",
        ancillary=[c["path"] for c in ANCILLARY],
    output:
        extended_fits="results/counterparts/{stack}/catalog_extended.fits",
        extended_csv="results/counterparts/{stack}/catalog_extended.csv",
        soft_candidates="results/counterparts/{stack}/softx_candidates.csv",
        candidates="results/counterparts/{stack}/optical_candidates.csv",
        best="results/counterparts/{stack}/best.csv",
        summary=report_item(
            "results/counterparts/{stack}/lr_summary.csv",
            REPORT_COUNTERPARTS,
            "Likelihood ratio",
            "lr_summary",
            "identification summary (table)",
        ),
        magnitudes="results/counterparts/{stack}/nm_qm.csv",
        curves="results/counterparts/{stack}/lr_curve.csv",
    log:
        "logs/counterparts/{stack}.log",
    benchmark:
        "results/benchmarks/counterparts/{stack}.tsv"
    conda:
        "../../envs/counterparts.yaml"
    params:
        code=code("counterparts/counterparts.py"),
        counterparts=config.get("counterparts", {}),
    script:
        "../scripts/counterparts/counterparts.py"


rule counterparts_figures:
    """Counterpart figures of a stack, drawn from the counterpart tables."""
    input:
        extended="results/counterparts/{stack}/catalog_extended.fits",
        summary="results/counterparts/{stack}/lr_summary.csv",
        magnitudes="results/counterparts/{stack}/nm_qm.csv",
        curves="results/counterparts/{stack}/lr_curve.csv",
        fluxes="results/calibration/{stack}/flux_vs_flux.csv",
    output:
        figure_qm=report_item(
            "results/figures/{stack}/counterparts_nm_qm.png",
            REPORT_COUNTERPARTS,
            "Likelihood ratio",
            "counterparts_nm_qm",
            "n(m) and q(m)",
        ),
        figure_rc=report_item(
            "results/figures/{stack}/counterparts_lr.png",
            REPORT_COUNTERPARTS,
            "Likelihood ratio",
            "counterparts_lr",
            "reliability and completeness vs LR",
        ),
        figure_hs=report_item(
            "results/figures/{stack}/hard_soft_flux.png",
            REPORT_COUNTERPARTS,
            "Soft X-ray association",
            "hard_soft_flux",
            "soft vs converted hard flux",
        ),
        figure_xo=report_item(
            "results/figures/{stack}/xo_plane.png",
            REPORT_COUNTERPARTS,
            "X-ray to optical",
            "xo_plane",
            "magnitude vs X-ray flux",
        ),
    log:
        "logs/counterparts/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("counterparts/counterparts_figures.py"),
        hard_band=config.get("counterparts", {}).get("hard_band"),
        xo_constant=config.get("counterparts", {}).get("xo_constant"),
    script:
        "../scripts/counterparts/counterparts_figures.py"
