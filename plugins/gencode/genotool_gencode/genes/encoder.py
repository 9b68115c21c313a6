"""The neural encoder of the gene finder: what counting misses, as extra score channels of the CRF.

* a dilated convolutional trunk over one-hot DNA gives, per base, log probabilities of 9 gene
  structure classes (:data:`CONTENT_CLASSES`: non-coding, coding on either strand at each codon
  position, intron on either strand); divided by the classes' training frequencies they become
  scaled likelihoods (the hybrid HMM/neural network recipe), summed over a segment like the Markov
  content scores;
* per signal (donor, acceptor, start codon, stop codon) a small network reads the window around
  every occurrence of the signal's core motif, on the gene's strand (a minus-strand site is read on
  the reverse complement, so one network serves both strands) and scores it as a site.

Both are trained on the training genes by cross entropy (:func:`train_encoder`); the CRF weights
that combine them with the sensors are learned afterwards (:mod:`.learn`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from genotool_gencode.genes.dna import revcomp
from genotool_gencode.genes.sensors import SIGNALS, motif_anchors, windows

CONTENT_CLASSES = ("noncoding", "coding+0", "coding+1", "coding+2", "coding-0", "coding-1", "coding-2",
                   "intron+", "intron-")
SITE_NAMES = ("donor", "acceptor", "start", "stop")


@dataclass
class EncoderSettings:
    channels: int = 24
    kernel: int = 9
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    site_hidden: int = 128
    site_window: dict | None = None         # name -> (left, right); default SITE_WINDOWS
    crop: int = 4096
    batch: int = 8
    trunk_steps: int = 400
    site_steps: int = 2000
    site_batch: int = 512
    lr: float = 2e-3
    negatives: float = 0.25                  # fraction of decoy sites sampled for the site networks

    def windows(self) -> dict:
        return dict(self.site_window or SITE_WINDOWS)


SITE_WINDOWS = {"donor": (40, 40), "acceptor": (60, 20), "start": (40, 40), "stop": (40, 40)}


class Trunk(nn.Module):
    """(B, T) codes -> (B, T, 9) log probabilities of the content classes."""

    def __init__(self, s: EncoderSettings):
        super().__init__()
        C, k = s.channels, s.kernel
        self.stem = nn.Conv1d(5, C, k, padding=k // 2)
        self.blocks = nn.ModuleList(nn.Conv1d(C, C, k, padding=(k // 2) * d, dilation=d) for d in s.dilations)
        self.head = nn.Conv1d(C, len(CONTENT_CLASSES), 1)
        self.act = nn.GELU()

    def forward(self, x):
        oh = nn.functional.embedding(x.long(), torch.eye(5, device=x.device))     # one-hot (B, T, 5)
        h = self.act(self.stem(oh.transpose(1, 2)))
        for conv in self.blocks:
            h = h + self.act(conv(h))     # residual: a deep stack of small convolutions trains
        return torch.log_softmax(self.head(h), dim=1).transpose(1, 2)


class SiteNet(nn.Module):
    """(n, W) window codes -> (n,) site logit: a two-hidden-layer network on the one-hot window."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(5 * width, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 1))
        self.register_buffer("eye", torch.eye(5), persistent=False)

    def forward(self, w):
        # one-hot by a row gather of the identity: 3x faster than one_hot(...).float() on CPU
        return self.net(nn.functional.embedding(w.long(), self.eye)).squeeze(-1)


class GeneEncoder(nn.Module):
    def __init__(self, settings: EncoderSettings | dict | None = None):
        super().__init__()
        if isinstance(settings, EncoderSettings):
            s = settings
        else:
            d = dict(settings or {})
            d.pop("ensemble", None)
            d["dilations"] = tuple(d.get("dilations", EncoderSettings.dilations))
            s = EncoderSettings(**d)
        self.settings = s
        self.trunk = Trunk(s)
        wins = s.windows()
        self.sites = nn.ModuleDict({n: SiteNet(sum(wins[n]), s.site_hidden) for n in SITE_NAMES})
        # log frequencies of the content classes in training (scaled likelihood = posterior / prior)
        self.register_buffer("log_prior", torch.zeros(len(CONTENT_CLASSES)))

    def config(self) -> dict:
        d = asdict(self.settings)
        d["site_window"] = {k: list(v) for k, v in self.settings.windows().items()}
        d["dilations"] = list(self.settings.dilations)
        return d

    @torch.no_grad()
    def channels(self, codes: np.ndarray, chunk: int = 200_000) -> dict[str, np.ndarray]:
        """Score channels of one sequence (see :meth:`genotool_gencode.genes.sensors.Sensors.score`
        for the layout), all prefixed ``enc_``."""
        self.eval()
        L = len(codes)
        pad = sum((self.settings.kernel // 2) * d for d in (1, *self.settings.dilations))
        x = torch.from_numpy(codes.astype(np.int64))
        lp = np.zeros((L, len(CONTENT_CLASSES)), dtype=np.float32)
        for a in range(0, L, chunk):
            lo, hi = max(0, a - pad), min(L, a + chunk + pad)
            out = self.trunk(x[lo:hi].unsqueeze(0))[0].numpy()
            lp[a:min(L, a + chunk)] = out[a - lo:a - lo + min(chunk, L - a)]
        s = lp - self.log_prior.numpy()
        s = (s - s[:, :1]).astype(np.float64)        # log-odds against non-coding
        pos = np.arange(L)
        cod = np.zeros((2, 3, L + 1))
        for f in range(3):
            cod[0, f, 1:] = np.cumsum(s[pos, 1 + (pos - f) % 3])
            cod[1, f, 1:] = np.cumsum(s[pos, 4 + 2 - (pos - f) % 3])
        intr = np.zeros((2, L + 1))
        intr[0, 1:] = np.cumsum(s[:, 7])
        intr[1, 1:] = np.cumsum(s[:, 8])
        out = {"enc_coding": cod, "enc_intron": intr}
        rc = revcomp(codes)
        wins = self.settings.windows()
        for name in SITE_NAMES:
            arr = np.zeros((2, L + 1))
            spec = SIGNALS[name]
            left, right = wins[name]
            for sg, strand_codes in ((0, codes), (1, rc)):
                anchors = motif_anchors(strand_codes, spec)
                vals = [self.sites[name](torch.from_numpy(windows(strand_codes, anchors[i:i + 100_000], left, right)))
                        for i in range(0, len(anchors), 100_000)]
                v = torch.cat(vals).numpy() if vals else np.zeros(0)
                arr[sg, anchors if sg == 0 else L - anchors] = v
            out["enc_" + name] = arr
        return out


# ---------------------------------------------------------------------------------------------
# training

def content_labels(L: int, genes) -> np.ndarray:
    """(L,) content class of every base from (valid) gene models; later genes overwrite earlier."""
    y = np.zeros(L, dtype=np.int64)
    for g in genes:
        for a, b in g.introns():
            y[a:b] = 7 if g.strand == "+" else 8
        done = 0
        exons = g.exons if g.strand == "+" else g.exons[::-1]
        for s, e in exons:
            n = e - s
            t = (done + np.arange(n)) % 3
            if g.strand == "+":
                y[s:e] = 1 + t
            else:
                y[s:e] = (4 + t)[::-1]
            done += n
    return y


def site_examples(pieces, name: str, window: tuple[int, int], negatives: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Windows (n, W) of every true site of ``name`` and a sample of decoys, read on each gene's
    strand, and their labels (n,)."""
    spec = SIGNALS[name]
    left, right = window
    pos, neg = [], []
    for codes, genes in pieces:
        L = len(codes)
        rc = revcomp(codes)
        for strand_codes, strand_genes in ((codes, [g for g in genes if g.strand == "+"]),
                                           (rc, [g.on_reverse(L) for g in genes if g.strand == "-"])):
            true = set()
            for g in strand_genes:
                if name == "start":
                    true.add(g.exons[0][0])
                elif name == "stop":
                    true.add(g.exons[-1][1])
                else:
                    true.update(a if name == "donor" else b for a, b in g.introns())
            anchors = np.array(sorted(true), dtype=np.int64)
            pos.append(windows(strand_codes, anchors, left, right))
            allm = motif_anchors(strand_codes, spec)
            dec = allm[~np.isin(allm, anchors)]
            dec = dec[rng.random(len(dec)) < negatives]
            neg.append(windows(strand_codes, dec, left, right))
    P, Nn = np.concatenate(pos), np.concatenate(neg)
    return np.concatenate([P, Nn]), np.concatenate([np.ones(len(P)), np.zeros(len(Nn))]).astype(np.float32)


def train_encoder(pieces, settings: EncoderSettings | None = None, *, seed: int = 0, log=None,
                  progress=None) -> tuple[GeneEncoder, dict]:
    """Train a GeneEncoder on ``pieces`` [(codes, valid genes)]: the trunk on random crops by
    cross entropy over the content classes, each site network on true sites against sampled
    decoys. Returns (encoder, summary)."""
    s = settings or EncoderSettings()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc = GeneEncoder(s)
    summary: dict = {}
    t0 = time.perf_counter()
    # trunk
    labels = [content_labels(len(c), g) for c, g in pieces]
    counts = np.bincount(np.concatenate(labels), minlength=len(CONTENT_CLASSES)).astype(np.float64) + 1.0
    enc.log_prior.copy_(torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32))
    lengths = np.array([len(c) for c, _ in pieces], dtype=np.float64)
    usable = lengths >= s.crop
    weights = np.where(usable, lengths, 0.0)
    if weights.sum() == 0:
        weights, crop = lengths, int(lengths.min())
    else:
        crop = s.crop
    weights = weights / weights.sum()
    opt = torch.optim.AdamW(enc.trunk.parameters(), lr=s.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, s.trunk_steps)
                                                                                  / s.trunk_steps)))
    enc.train()
    run = None
    for step in range(s.trunk_steps):
        xs, ys = [], []
        for _ in range(s.batch):
            k = rng.choice(len(pieces), p=weights)
            c, y = pieces[k][0], labels[k]
            a = int(rng.integers(0, len(c) - crop + 1))
            xs.append(c[a:a + crop])
            ys.append(y[a:a + crop])
        x = torch.from_numpy(np.stack(xs).astype(np.int64))
        y = torch.from_numpy(np.stack(ys))
        loss = nn.functional.nll_loss(enc.trunk(x).reshape(-1, len(CONTENT_CLASSES)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(enc.trunk.parameters(), 1.0)
        opt.step()
        sched.step()
        run = float(loss.detach()) if run is None else 0.98 * run + 0.02 * float(loss.detach())
        if progress:
            progress()
        if log and (step + 1) % 100 == 0 and step + 1 < s.trunk_steps:
            log(f"encoder trunk: step {step + 1}/{s.trunk_steps}, loss {run:.4f} ({time.perf_counter() - t0:.0f} s)")
    summary["trunk_loss"] = run
    summary["trunk_seconds"] = round(time.perf_counter() - t0, 1)
    if log:
        log(f"encoder trunk: {s.trunk_steps} steps of {s.batch} x {crop} bp, loss {run:.4f} "
            f"({summary['trunk_seconds']} s)")
    # site networks
    wins = s.windows()
    for name in SITE_NAMES:
        t1 = time.perf_counter()
        X, y = site_examples(pieces, name, wins[name], s.negatives, rng)
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        net = enc.sites[name]
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        net.train()
        run = None
        # at most ~20 passes over the examples: small training sets need few steps
        steps = min(s.site_steps, max(50, 20 * len(X) // s.site_batch))
        for step in range(steps):
            idx = torch.from_numpy(rng.integers(0, len(X), s.site_batch))
            loss = nn.functional.binary_cross_entropy_with_logits(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            run = float(loss.detach()) if run is None else 0.98 * run + 0.02 * float(loss.detach())
            if progress:
                progress()
        summary[f"{name}_loss"] = run
        if log:
            log(f"encoder {name} sites: {int(y.sum())} true, {len(y) - int(y.sum())} decoys, loss {run:.4f} "
                f"({time.perf_counter() - t1:.0f} s)")
    enc.eval()
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return enc, summary
