"""Simulated replicas of each stack, in chunks (method.md §7): one sky for all bands."""

N_REPLICAS = config["simulations"]["replicas"]
CHUNK_SIZE = config["simulations"]["chunk_size"]
CHUNKS = list(range((N_REPLICAS + CHUNK_SIZE - 1) // CHUNK_SIZE))


wildcard_constraints:
    chunk=r"\d+",


rule simulate:
    """Replicas [chunk * chunk_size, (chunk + 1) * chunk_size) of one stack, all bands."""
    input:
        unpack(
            named_inputs(
                "maps",
                "results/stacks/{stack}/{band}/{kind}.fits",
                band=BANDS,
                kind=MAP_KINDS,
            )
        ),
        unpack(named_inputs("real", "results/detect/{stack}/{band}.fits", band=BANDS)),
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
    output:
        detections="results/sims/{stack}/chunk{chunk}.parquet",
        inputs="results/sims/{stack}/chunk{chunk}.inputs.parquet",
    log:
        "logs/sims/{stack}_{chunk}.log",
    benchmark:
        "results/benchmarks/simulate/{stack}_chunk{chunk}.tsv"
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=2500,
        runtime=60,
    params:
        code=code("simulate/simulate.py"),
        replicas=lambda wc: list(
            range(
                int(wc.chunk) * CHUNK_SIZE,
                min((int(wc.chunk) + 1) * CHUNK_SIZE, N_REPLICAS),
            )
        ),
        bands=BANDS,
        kinds=MAP_KINDS,
        seed=config["seed"],
        population=config["population"],
        bright_flux=config["simulations"].get("bright_flux"),
        truth=config["simulations"].get("truth", "flux"),
        truth_share=config["simulations"].get("truth_share", 0.25),
        detection=DETECTION,
    script:
        "../scripts/simulate/simulate.py"
