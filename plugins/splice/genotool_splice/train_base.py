"""``splice train-base``: a SpliceAI-style base model trained on the user's own data, from scratch
or fine-tuned from another base (``--init``: OpenSpliceAI weights, or a `train-base` output;
OpenSpliceAI's ``transfer``).

Training examples are blocks of ``block`` positions (plus the model's flank as context) tiled
over every gene body in transcript orientation (the minus strand reverse-complemented), with
per-position targets (neither 0, acceptor 1, donor 2: OpenSpliceAI's channel order) at the
exon-side site positions. Transcripts wholly inside the training regions only; the validation
regions' for early stopping on the mean donor/acceptor average precision; the test regions'
annotation is never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task
from genotool.errors import UserError
from genotool.log import log
from genotool.options import RunOptions
from genotool_splice.base import OWN_NAME
from genotool_splice.spliceai_net import ACCEPTOR, DONOR, SpliceAINet, net_config


DEFAULT_FLANK = 80


@dataclass
class TrainBaseConfig(RunOptions):
    fasta: Path
    gtf: Path
    output: Path
    init: Path | None = None
    flank: int | None = None
    channels: int = 32
    block: int = 1000
    epochs: int = 8
    lr: float = 2e-3
    patience: int = 3
    train_regions: str | None = None
    val_regions: str | None = None
    test_regions: str | None = None
    steps_per_epoch: int | None = None
    scheduler: str = "onecycle"
    max_minutes: float | None = None
    seed: int = 0
    force: bool = False


class BlockDataset(torch.utils.data.Dataset):
    """Items (x (block + flank,) uint8 codes, y (block,) int64 targets)."""

    def __init__(self, xs: list, ys: list):
        self.x = torch.from_numpy(np.stack(xs)) if xs else torch.zeros((0, 1), dtype=torch.uint8)
        self.y = torch.from_numpy(np.stack(ys).astype(np.int64)) if ys else torch.zeros((0, 1), dtype=torch.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _one_hot(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(x.long(), 5)[..., :4].transpose(1, 2).float()


class BaseTask(Task):
    def __init__(self, device):
        self.device = device

    def training_step(self, model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(_one_hot(x)).float(), y)

    def validation_metrics(self, model, loader):
        from sklearn.metrics import average_precision_score

        from genotool.engine import move_to_device

        ps, ys, loss = [], [], 0.0
        for batch in loader:
            x, y = move_to_device(batch, self.device)
            logits = model(_one_hot(x)).float()
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            ps.append(torch.softmax(logits, 1).permute(0, 2, 1).reshape(-1, 3).cpu().numpy())
            ys.append(y.reshape(-1).cpu().numpy())
        p, y = np.concatenate(ps), np.concatenate(ys)
        aps = [average_precision_score(y == c, p[:, c]) for c in (ACCEPTOR, DONOR) if (y == c).any()]
        return {"val_loss": loss / max(1, len(y)), "val_pr_auc": float(np.mean(aps)) if aps else 0.0}


def _blocks(codes: np.ndarray, targets: np.ndarray, spans: list[tuple[int, int]], block: int, flank: int):
    """Tile each span [s, e) (in this orientation) with blocks; x gets flank/2 context each side."""
    half = flank // 2
    pad_codes = np.concatenate([np.full(half, 4, np.uint8), codes, np.full(half + block, 4, np.uint8)])
    pad_t = np.concatenate([targets, np.zeros(block, np.int8)])
    xs, ys = [], []
    for s, e in spans:
        for b in range(s, e, block):
            xs.append(pad_codes[b:b + block + flank])
            ys.append(pad_t[b:b + block])
    return xs, ys


def build_blocks(cfg: TrainBaseConfig, ref, splits, flank: int) -> tuple[tuple, tuple]:
    """(train xs/ys, val xs/ys): blocks over the bodies of the transcripts wholly inside each split."""
    from genotool_splice.base import reverse_complement
    from genotool_splice.inputs import transcripts_by_contig
    from genotool_splice.sites import ACCEPTOR as M_ACC
    from genotool_splice.sites import chrom_sites

    out = {"train": ([], []), "val": ([], [])}
    for contig, transcripts in transcripts_by_contig(cfg.gtf, ref):
        by_split = {"train": [], "val": []}
        for t in transcripts:
            sp = splits.split_of(contig, t.start, t.end)
            if sp in by_split:
                by_split[sp].append(t)
        if not any(by_split.values()):
            continue
        codes = ref.codes(contig)
        L = len(codes)
        for split, tx in by_split.items():
            if not tx:
                continue
            cs = chrom_sites(contig, tx)
            for strand in ("+", "-"):
                t = np.zeros(L, dtype=np.int8)
                for p, (lab, _) in cs.sites[strand].items():
                    t[p] = ACCEPTOR if lab == M_ACC else DONOR
                spans = [(s, e) for s, e, st, _ in cs.genes if st == strand]
                if strand == "-":
                    c, t = reverse_complement(codes), t[::-1].copy()
                    spans = [(L - e, L - s) for s, e in spans]
                else:
                    c = codes
                xs, ys = _blocks(c, t, spans, cfg.block, flank)
                out[split][0].extend(xs)
                out[split][1].extend(ys)
    return out["train"], out["val"]


def initial_net(cfg: TrainBaseConfig) -> tuple[SpliceAINet, dict | None]:
    """A fresh net (``--flank``, ``--channels``) or the ``--init`` base's first model, trainable."""
    from genotool_splice.base import load_base_nets, resolve_base

    if cfg.init is None:
        flank = cfg.flank or DEFAULT_FLANK
        if flank not in (80, 400):
            raise UserError(f"--flank must be 80 or 400 for an own base model, not {flank}")
        return SpliceAINet(flank, channels=cfg.channels), None
    spec = resolve_base(cfg.init, cfg.flank, 1, "--init")
    net = load_base_nets(spec, "--init")[0]
    if cfg.flank and net.context != cfg.flank:
        raise UserError(f"--flank {cfg.flank}: the --init model {cfg.init} has a {net.context} nt flank")
    return net.train().requires_grad_(True), spec.to_dict()


def run_train_base(cfg: TrainBaseConfig) -> dict:
    from genotool.engine import TrainConfig, Trainer
    from genotool.engine.model_io import export_model
    from genotool.options import SCHEDULERS, check_choice
    from genotool.outputs import run_output, write_json

    from genotool_splice.inputs import Reference, check_annotation
    from genotool_splice.splits import resolve_splits

    if cfg.block < 100:
        raise UserError(f"--block must be >= 100, not {cfg.block}")
    if cfg.epochs < 1:
        raise UserError(f"--epochs must be >= 1, not {cfg.epochs}")
    check_choice(cfg.scheduler, SCHEDULERS, "--scheduler")
    if cfg.steps_per_epoch is not None and cfg.steps_per_epoch < 1:
        raise UserError(f"--steps-per-epoch must be >= 1, not {cfg.steps_per_epoch}")
    ref = Reference.open(cfg.fasta)
    annotated = check_annotation(cfg.gtf, ref)
    splits = resolve_splits(cfg.train_regions, cfg.val_regions, cfg.test_regions, ref.lengths, cfg.fasta)
    net, init = initial_net(cfg)
    ref.check(sorted(annotated))
    plan = cfg.plan()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()} | {
        "regions": splits.describe(), "init_base": init}
    (tx, ty), (vx, vy) = build_blocks(cfg, ref, splits, net.context)
    if not tx:
        raise UserError(f"{cfg.gtf}: no transcripts wholly inside the training regions")
    if not vx:
        raise UserError("--val-regions: the validation split has no genes")
    with run_output(cfg.output, command="splice train-base", parameters=params, inputs=[cfg.fasta, cfg.gtf],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        torch.manual_seed(cfg.seed)
        if init is None:                      # the same seeded initialisation as before --init existed
            net = SpliceAINet(net.flank, channels=cfg.channels)
        tcfg = TrainConfig(max_epochs=cfg.epochs, lr=cfg.lr, weight_decay=1e-4, optimizer="adamw",
                           scheduler=cfg.scheduler, monitor="val_pr_auc", monitor_mode="max", patience=cfg.patience,
                           batch_size=plan.batch_size or 16, seed=cfg.seed, max_minutes=cfg.max_minutes,
                           max_steps_per_epoch=cfg.steps_per_epoch,
                           extra={"net": net_config(net), "block": cfg.block, "init": init})
        trainer = Trainer(tcfg, plan=plan, out_dir=run.path)
        task = BaseTask(trainer.device)
        init_val = None
        if init is not None:                  # where fine-tuning starts, on the same validation blocks
            loader = torch.utils.data.DataLoader(BlockDataset(vx, vy), batch_size=tcfg.batch_size)
            with torch.no_grad():
                init_val = task.validation_metrics(net.to(trainer.device).eval(), loader)["val_pr_auc"]
            net.train()
            log(f"train-base: the --init model's validation PR-AUC {init_val:.4f}")
        result = trainer.fit(net, task, BlockDataset(tx, ty), BlockDataset(vx, vy))
        trainer.load_best(net)
        export_model(net, run.path, plugin="splice", name=OWN_NAME,
                     config={"kind": "base", "net": net_config(net), "init": init})
        res = {"val_pr_auc": float(result.best_metric or 0.0), "init_val_pr_auc": init_val,
               "epochs": len(result.history),
               "best_epoch": result.best_epoch, "train_blocks": len(tx), "val_blocks": len(vx)}
        write_json(run.path / "train_summary.json", res)
        run.runtime.update(result.runtime)
    return res
