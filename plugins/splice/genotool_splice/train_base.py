"""``splice train-base``: a small SpliceAI-style base model trained on the user's own data.

Training examples are blocks of ``block`` positions (plus the model's flank as context) tiled
over every gene body in transcript orientation (the minus strand reverse-complemented), with
per-position targets (neither 0, acceptor 1, donor 2: OpenSpliceAI's channel order) at the
exon-side site positions. Training chromosomes only; validation chromosomes for early stopping
on the mean donor/acceptor average precision; test chromosomes are never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genotool.engine import Task
from genotool.errors import UserError
from genotool.options import RunOptions
from genotool_splice.spliceai_net import ACCEPTOR, DONOR, SpliceAINet, net_config


@dataclass
class TrainBaseConfig(RunOptions):
    fasta: Path
    gtf: Path
    output: Path
    flank: int = 80
    channels: int = 32
    block: int = 1000
    epochs: int = 8
    lr: float = 2e-3
    patience: int = 3
    test_chromosomes: list = field(default_factory=list)
    val_chromosomes: list = field(default_factory=list)
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


def build_blocks(cfg: TrainBaseConfig, flank: int) -> tuple[dict, dict]:
    """(train xs/ys, val xs/ys) from the GTF + FASTA (test chromosomes skipped)."""
    from genotool.genome.fasta import canonical, open_fasta
    from genotool.genome.gtf import iter_chromosomes
    from genotool_splice.base import reverse_complement
    from genotool_splice.seqio import fetch_codes
    from genotool_splice.sites import ACCEPTOR as M_ACC
    from genotool_splice.sites import chrom_sites
    from genotool_splice.splits import assign_splits

    fa = open_fasta(cfg.fasta)
    names = {canonical(n): n for n in fa.references}
    splits = assign_splits(list(fa.references), cfg.test_chromosomes, cfg.val_chromosomes)
    out = {"train": ([], []), "val": ([], [])}
    for chrom, transcripts in iter_chromosomes(cfg.gtf):
        name = names.get(canonical(chrom))
        if name is None and transcripts:
            t = transcripts[0]
            raise UserError(f"{cfg.gtf}: line {t.line}: transcript {t.transcript_id} is on contig '{chrom}', "
                            f"which is not in {cfg.fasta}")
        split = splits.get(name, "train")
        if split == "test" or not transcripts:
            continue
        cs = chrom_sites(chrom, transcripts)
        codes = fetch_codes(fa, cfg.fasta, name)
        L = len(codes)
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


def run_train_base(cfg: TrainBaseConfig) -> dict:
    from genotool.engine import TrainConfig, Trainer
    from genotool.engine.model_io import export_model
    from genotool.options import SCHEDULERS, check_choice
    from genotool.outputs import run_output, write_json

    if cfg.flank not in (80, 400):
        raise UserError(f"--flank must be 80 or 400 for an own base model, not {cfg.flank}")
    if cfg.block < 100:
        raise UserError(f"--block must be >= 100, not {cfg.block}")
    if cfg.epochs < 1:
        raise UserError(f"--epochs must be >= 1, not {cfg.epochs}")
    check_choice(cfg.scheduler, SCHEDULERS, "--scheduler")
    for p, opt in ((cfg.fasta, "--fasta"), (cfg.gtf, "--annotation")):
        if not Path(p).is_file():
            raise UserError(f"{opt}: {p} not found")
    plan = cfg.plan()
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}
    (tx, ty), (vx, vy) = build_blocks(cfg, cfg.flank)
    if not tx:
        raise UserError(f"{cfg.gtf}: no genes on the training chromosomes")
    if not vx:
        raise UserError("--val-chromosomes: the validation split has no genes")
    with run_output(cfg.output, command="splice train-base", parameters=params, inputs=[cfg.fasta, cfg.gtf],
                    force=cfg.force) as run:
        run.plan = plan.to_dict()
        torch.manual_seed(cfg.seed)
        net = SpliceAINet(cfg.flank, channels=cfg.channels)
        tcfg = TrainConfig(max_epochs=cfg.epochs, lr=cfg.lr, weight_decay=1e-4, optimizer="adamw",
                           scheduler=cfg.scheduler, monitor="val_pr_auc", monitor_mode="max", patience=cfg.patience,
                           batch_size=plan.batch_size or 16, seed=cfg.seed, max_minutes=cfg.max_minutes,
                           extra={"net": net_config(net), "block": cfg.block})
        trainer = Trainer(tcfg, plan=plan, out_dir=run.path)
        result = trainer.fit(net, BaseTask(trainer.device), BlockDataset(tx, ty), BlockDataset(vx, vy))
        trainer.load_best(net)
        export_model(net, run.path, plugin="splice", name="base_model",
                     config={"kind": "base", "net": net_config(net)})
        res = {"val_pr_auc": float(result.best_metric or 0.0), "epochs": len(result.history),
               "best_epoch": result.best_epoch, "train_blocks": len(tx), "val_blocks": len(vx)}
        write_json(run.path / "train_summary.json", res)
        run.runtime.update(result.runtime)
    return res
