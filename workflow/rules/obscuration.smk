"""Forward model of the obscuration bias: detection of the replicas' sources, simulated
spectra fitted as the catalogue's, intrinsic obscured and Compton-thick fractions
(method.md §16)."""

OBSCURATION = config.get("obscuration", {})
# the spectral-fit settings that the simulated spectra share with the catalogue's
MOCK_FIT = {
    k: SPECTRA[k]
    for k in (
        "group_channels",
        "gamma_fixed",
        "free_gamma_counts",
        "min_net_counts",
        "scattered_fraction",
        "line_ew_kev",
        "free_line_counts",
    )
}
NH_THRESHOLDS = config["spectral"]["nh_thresholds"]


rule obscuration_sample:
    """Which replica sources the survey detects (detection fractions), and the detected and
    spurious sources whose simulated spectra are fitted."""
    input:
        unpack(replica_chunks),
        instrument=INSTRUMENT_FILE,
        thresholds="results/calibration/{stack}/thresholds.csv",
        files="results/spectra/{stack}/files",
        table="results/spectra/{stack}/extraction.csv",
    output:
        sample="results/obscuration/{stack}/sample.parquet",
        spectra="results/obscuration/{stack}/spectra.npz",
        detection="results/obscuration/{stack}/detection.csv",
    log:
        "logs/obscuration/sample_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("obscuration/obscuration_sample.py"),
        obscuration={k: OBSCURATION[k] for k in ("sample_per_class", "spurious_sample")},
        band=SPECTRA["band"],
        bands=BANDS,
        level=LEVELS[min(LEVELS)],
        nh_thresholds=NH_THRESHOLDS,
        counts_band_kev=config["population"]["counts"]["band_kev"],
        seed=config["seed"],
    script:
        "../scripts/obscuration/obscuration_sample.py"


rule obscuration_fit:
    """Staged fits (best fit only) of one chunk of the simulated spectra."""
    input:
        instrument=INSTRUMENT_FILE,
        files="results/spectra/{stack}/files",
        sample="results/obscuration/{stack}/sample.parquet",
        spectra="results/obscuration/{stack}/spectra.npz",
    output:
        "results/obscuration/{stack}/fits/{chunk}.csv",
    log:
        "logs/obscuration/fit_{stack}_{chunk}.log",
    benchmark:
        "results/benchmarks/obscuration_fit/{stack}_{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("obscuration/obscuration_fit.py"),
        fit=MOCK_FIT,
        band=SPECTRA["band"],
        bands=BANDS,
        n_chunks=OBSCURATION["fit_jobs"],
    script:
        "../scripts/obscuration/obscuration_fit.py"


rule obscuration_fractions:
    """The survey's response matrix, the false Compton-thick rate, and the naive and
    intrinsic obscured and Compton-thick fractions of the catalogue."""
    input:
        unpack(
            named_inputs(
                "chunks",
                "results/obscuration/{stack}/fits/{chunk}.csv",
                chunk=list(range(OBSCURATION["fit_jobs"])),
            )
        ),
        sample="results/obscuration/{stack}/sample.parquet",
        detection="results/obscuration/{stack}/detection.csv",
        fits="results/spectra/{stack}/fits.csv",
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
    output:
        simulated="results/obscuration/{stack}/simulated.csv",
        response="results/obscuration/{stack}/response.csv",
        fractions=report_item(
            "results/obscuration/{stack}/fractions.csv",
            REPORT_CHARACTERISE,
            "Obscuration",
            "obscuration_table",
            "naive and intrinsic obscured fractions (table)",
        ),
        summary="results/obscuration/{stack}/summary.csv",
    log:
        "logs/obscuration/fractions_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("obscuration/obscuration_fractions.py"),
        draws=OBSCURATION["response_draws"],
        nh_thresholds=NH_THRESHOLDS,
        # the replicas' N_H distribution (none: all unabsorbed, population.mode: paper)
        log_nh=(
            config["population"]["log_nh"]
            if config["population"].get("mode", "realistic") == "realistic"
            else None
        ),
        seed=config["seed"],
    script:
        "../scripts/obscuration/obscuration_fractions.py"


rule obscuration_figures:
    """Detection fraction vs N_H and luminosity, N_H recovery, naive vs intrinsic fractions."""
    input:
        detection="results/obscuration/{stack}/detection.csv",
        simulated="results/obscuration/{stack}/simulated.csv",
        fractions="results/obscuration/{stack}/fractions.csv",
    output:
        **{
            name: report_item(
                f"results/figures/{{stack}}/{name}.png",
                REPORT_CHARACTERISE,
                "Obscuration",
                name,
                label,
            )
            for name, label in (
                ("detection_fraction", "detection fraction vs N_H and luminosity"),
                ("nh_recovery", "fitted vs true N_H of simulated spectra"),
                ("obscuration_fractions", "naive and intrinsic obscured fractions"),
            )
        },
    log:
        "logs/obscuration/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("obscuration/obscuration_figures.py"),
        nh_thresholds=NH_THRESHOLDS,
    script:
        "../scripts/obscuration/obscuration_figures.py"
