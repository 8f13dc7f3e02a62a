"""Counterparts: soft X-ray association and likelihood-ratio identification (METHOD §11)."""

ANCILLARY = config.get("counterparts", {}).get("catalogs", [])


rule counterparts:
    """Soft X-ray and optical/IR counterparts of the 95% catalogue; extended catalogue."""
    input:
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        positions="results/calibration/{stack}/positions.csv",
        fluxes="results/calibration/{stack}/flux_vs_flux.csv",
        ancillary=[c["path"] for c in ANCILLARY],
    output:
        extended_fits="results/counterparts/{stack}/catalog_extended.fits",
        extended_csv="results/counterparts/{stack}/catalog_extended.csv",
        soft_candidates="results/counterparts/{stack}/softx_candidates.csv",
        candidates="results/counterparts/{stack}/optical_candidates.csv",
        best="results/counterparts/{stack}/best.csv",
        summary="results/counterparts/{stack}/lr_summary.csv",
        magnitudes="results/counterparts/{stack}/nm_qm.csv",
        curves="results/counterparts/{stack}/lr_curve.csv",
        figure_qm=report(
            "results/figures/{stack}/counterparts_nm_qm.png",
            category="Counterparts",
            caption="../report/counterparts.rst",
        ),
        figure_rc=report(
            "results/figures/{stack}/counterparts_lr.png",
            category="Counterparts",
            caption="../report/counterparts.rst",
        ),
        figure_hs=report(
            "results/figures/{stack}/hard_soft_flux.png",
            category="Counterparts",
            caption="../report/hard_soft_flux.rst",
        ),
        figure_xo=report(
            "results/figures/{stack}/xo_plane.png",
            category="Counterparts",
            caption="../report/xo_plane.rst",
        ),
    log:
        "logs/counterparts/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        counterparts=config.get("counterparts", {}),
    script:
        "../scripts/counterparts.py"
