"""``srsnv preprocess``: FeatureMaps + BAMs -> cached tensor records (a rerun with the same inputs
is a cache hit). The work is :func:`genotool_srsnv.pipeline.preprocess`.

:class:`SourceOptions` are the options ``preprocess`` and ``train`` share: the inputs, the split
and the cache; ``train``'s options inherit them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from genotool.errors import UserError
from genotool_srsnv.pipeline import PreprocessConfig


@dataclass(kw_only=True)
class SourceOptions:
    """Inputs, split and preprocess-cache options (the design note's names)."""

    positive_bam: Path
    negative_bam: Path
    positive_parquet: Path
    negative_parquet: Path
    training_regions: Path
    split_manifest_in: Path | None = None
    single_model_split: bool = True
    val_fraction: float = 0.1
    split_hash_key: str = "RN"
    holdout_chromosomes: str = "chr21,chr22"
    num_folds: int = 3
    preprocess_cache_dir: Path | None = None
    preprocess_num_workers: int | None = None    # None: min(cores - 2, 16), >= 1
    preprocess_max_ram_gb: float = 48.0
    preprocess_batch_rows: int = 16384
    preprocess_storage_mode: str = "single_file"
    preprocess_dry_run: bool = False
    tensor_length: int = 300
    reference: Path | None = None
    max_missing_reads_fraction: float = 0.02
    seed: int = 0

    def preprocess_config(self, cache_dir: Path) -> PreprocessConfig:
        """The pipeline's config: split parameters, the manifest file read, worker default."""
        from genotool_srsnv import splits
        from genotool_srsnv.pipeline import default_workers

        params = splits.manifest_params(
            single_model=self.single_model_split,
            holdout=[c.strip() for c in self.holdout_chromosomes.split(",") if c.strip()],
            val_fraction=self.val_fraction, hash_key=self.split_hash_key, seed=self.seed, n_folds=self.num_folds)
        man_in = splits.read_manifest(self.split_manifest_in) if self.split_manifest_in else None
        return PreprocessConfig(self.positive_bam, self.negative_bam, self.positive_parquet, self.negative_parquet,
                                self.training_regions, Path(cache_dir), params, man_in,
                                num_workers=self.preprocess_num_workers or default_workers(),
                                max_ram_gb=self.preprocess_max_ram_gb, batch_rows=self.preprocess_batch_rows,
                                storage_mode=self.preprocess_storage_mode, length=self.tensor_length,
                                reference=self.reference, max_missing_fraction=self.max_missing_reads_fraction)


@dataclass(kw_only=True)
class PreprocessOptions(SourceOptions):
    """One ``srsnv preprocess`` command line: the cache folder is ``--preprocess-cache-dir``,
    else ``--output``; ``force`` rebuilds the entry even when it is cached."""

    output: Path | None = None
    force: bool = False

    def cache_dir(self) -> Path:
        cache = self.preprocess_cache_dir or self.output
        if cache is None:
            raise UserError("--output/--preprocess-cache-dir: a cache folder is required")
        return Path(cache)


def cache_summary(res) -> dict:
    """What ``srsnv preprocess`` prints: the cache folder, hit or built, seconds, rows, telemetry."""
    return {"cache": str(res.path), "cache_hit": res.hit, "seconds": round(res.seconds, 4),
            "rows": res.index.get("rows"), "telemetry": res.index.get("telemetry", {})}


def run_preprocess(opts: PreprocessOptions) -> dict:
    """Build (or hit) the cache entry and print its summary, or the plan with ``--preprocess-dry-run``."""
    from genotool_srsnv.pipeline import preprocess

    res = preprocess(opts.preprocess_config(opts.cache_dir()), dry_run=opts.preprocess_dry_run,
                     force_rebuild=opts.force)
    out = {"preprocess_plan": res.plan} if opts.preprocess_dry_run else cache_summary(res)
    print(json.dumps(out, indent=2, default=str), flush=True)
    return out
