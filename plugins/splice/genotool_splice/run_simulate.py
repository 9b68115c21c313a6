"""``splice simulate`` body: option checks and the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genotool.errors import UserError


@dataclass
class SimulateConfig:
    output: Path
    genome_size: int = 4_000_000
    num_chromosomes: int = 22
    num_variants: int = 400
    seed: int = 0
    force: bool = False


def run_simulate(cfg: SimulateConfig) -> dict:
    from genotool.log import log
    from genotool.outputs import run_output
    from genotool_splice.simulate import simulate_dataset

    if cfg.num_chromosomes < 1:
        raise UserError(f"--num-chromosomes must be >= 1, not {cfg.num_chromosomes}")
    if cfg.genome_size < 20_000 * cfg.num_chromosomes:
        raise UserError(f"--genome-size must be >= {20_000 * cfg.num_chromosomes} (20 kb per chromosome), "
                        f"not {cfg.genome_size}")
    if cfg.num_variants < 0:
        raise UserError(f"--num-variants must be >= 0, not {cfg.num_variants}")
    params = {"genome_size": cfg.genome_size, "num_chromosomes": cfg.num_chromosomes,
              "num_variants": cfg.num_variants, "seed": cfg.seed}
    with run_output(cfg.output, command="splice simulate", parameters=params, force=cfg.force) as run:
        s = simulate_dataset(run.path, genome_size=cfg.genome_size, num_chromosomes=cfg.num_chromosomes,
                             num_variants=cfg.num_variants, seed=cfg.seed, progress=lambda m: log(f"simulate: {m}"))
        run.runtime.update(s)
    return s
