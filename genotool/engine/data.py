"""DataLoaders whose order depends only on (seed, epoch), so a resumed run replays it exactly.

Single process: a ``RandomSampler`` with its own generator, reseeded at every epoch from
``(seed, epoch)``. Under torchrun: a ``DistributedSampler`` (``set_epoch`` does the same) that
gives each rank a disjoint shard. The DataLoader gets a second generator, also reseeded per
epoch, for the workers' base seed; without it the loader would draw that seed from the global
torch RNG and shift every later random number (dropout masks) by an amount that depends on
whether workers were already running, which breaks exact resume.
"""

from __future__ import annotations

import torch
from torch.utils.data import (DataLoader, DistributedSampler, IterableDataset, RandomSampler,
                              SequentialSampler)

from genotool.engine.config import TrainConfig
from genotool.engine.distributed import DistInfo
from genotool.engine.runtime import worker_init_fn
from genotool.parallel import start_method


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A distinct 63-bit seed per (seed, epoch, stream); plain arithmetic, stable across runs."""
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729) % (2**63 - 1)


class EpochLoader:
    """A DataLoader plus the samplers/generators to reseed before each epoch."""

    def __init__(self, dataset, cfg: TrainConfig, dist: DistInfo, device: torch.device,
                 collate_fn=None):
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            # Epoch length, schedules, resume and DDP sharding all rely on indexable data.
            raise TypeError("Trainer.fit needs a map-style dataset (__len__ and __getitem__); "
                            f"got {type(dataset).__name__}")
        self.cfg = cfg
        self.sampler_gen = torch.Generator()
        self.loader_gen = torch.Generator()
        if dist.enabled:
            self.sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank,
                                              shuffle=cfg.shuffle, seed=cfg.seed, drop_last=cfg.drop_last)
        elif cfg.shuffle:
            self.sampler = RandomSampler(dataset, generator=self.sampler_gen)
        else:
            self.sampler = SequentialSampler(dataset)
        kwargs = _worker_kwargs(cfg)
        self.loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.num_workers, collate_fn=collate_fn,
                                 pin_memory=cfg.pin_memory and device.type == "cuda",
                                 drop_last=cfg.drop_last, generator=self.loader_gen, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        self.sampler_gen.manual_seed(epoch_seed(self.cfg.seed, epoch, 0))
        self.loader_gen.manual_seed(epoch_seed(self.cfg.seed, epoch, 1))

    def micro_batches(self) -> int:
        """Micro-batches run per epoch (the loader length, capped by max_steps_per_epoch)."""
        n = len(self.loader)
        if self.cfg.max_steps_per_epoch is not None:
            n = min(n, self.cfg.max_steps_per_epoch)
        return n

    def optimizer_steps(self) -> int:
        n, k = self.micro_batches(), self.cfg.grad_accum_steps
        return -(-n // k)


def _worker_kwargs(cfg: TrainConfig) -> dict:
    """DataLoader options that only apply with worker processes."""
    if cfg.num_workers <= 0:
        return {}
    return dict(prefetch_factor=cfg.prefetch_factor, persistent_workers=cfg.persistent_workers,
                worker_init_fn=worker_init_fn, multiprocessing_context=start_method())


def eval_loader(dataset, cfg: TrainConfig, device: torch.device, collate_fn=None) -> DataLoader:
    """Sequential loader for validation. Only rank 0 iterates it, so under torchrun the other
    ranks never start its workers; persistent workers avoid a respawn every epoch."""
    kwargs = _worker_kwargs(cfg)
    # Own generator: every DataLoader iterator draws a worker base seed, from the global torch
    # RNG when it has none. With persistent workers that draw happens only on the first epoch a
    # process runs, so a resumed run would shift the global stream (dropout) - exact resume
    # needs validation to leave the global RNG alone.
    gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, 0, 2))
    return DataLoader(dataset, batch_size=cfg.eval_batch_size or cfg.batch_size, shuffle=False,
                      num_workers=cfg.num_workers, collate_fn=collate_fn, generator=gen,
                      pin_memory=cfg.pin_memory and device.type == "cuda", **kwargs)
