"""Simulated replicas of each stack, in chunks (METHOD §7)."""

N_REPLICAS = config["simulations"]["replicas"]
CHUNK_SIZE = config["simulations"]["chunk_size"]
CHUNKS = list(range((N_REPLICAS + CHUNK_SIZE - 1) // CHUNK_SIZE))


wildcard_constraints:
    chunk=r"\d+",


rule simulate:
    """Replicas [chunk * chunk_size, (chunk + 1) * chunk_size) of one stack and band."""
    input:
        instrument=INSTRUMENT_FILE,
        maps=expand("results/stacks/{{stack}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
        real="results/detect/{stack}/{band}.fits",
    output:
        detections="results/sims/{stack}/{band}/chunk{chunk}.parquet",
        inputs="results/sims/{stack}/{band}/chunk{chunk}.inputs.parquet",
    log:
        "logs/sims/{stack}_{band}_{chunk}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        replicas=lambda wc: list(
            range(
                int(wc.chunk) * CHUNK_SIZE,
                min((int(wc.chunk) + 1) * CHUNK_SIZE, N_REPLICAS),
            )
        ),
        seed=config["seed"],
        lognlogs=config["simulations"]["lognlogs"],
        bright_flux=config["simulations"].get("bright_flux"),
        detection=config["detection"],
    script:
        "../scripts/simulate.py"
