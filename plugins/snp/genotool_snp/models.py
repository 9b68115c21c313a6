"""The three architectures: CNN, CNN-Transformer and an LD-graph GNN over SNP tokens.

All take ``x`` (B, C, L) int8 genotypes (C = 2 haplotype channels, or 1 dosage channel; -1 =
missing) and return (B, n_out) outputs. Shared input stage (:class:`GenotypeInput`):

* centring by the training-set mean of each channel at each SNP (a buffer saved with the
  model); a missing value becomes the training mean (centred 0) and sets a mask channel;
* a per-SNP embedding (L x d x (C + 1) weights): every SNP gets its own linear map of its
  alleles, the way a positional embedding tells a token where it is. Ancestry lives in which
  allele sits at which SNP, and convolution + global pooling alone is translation invariant.
  The SNP count is fixed by the saved SNP list (predict aligns a new VCF to it by site), not by
  a flatten layer: everything after the embedding is convolution, attention or message passing
  followed by global pooling. The mean of the embedding over SNPs goes to the head as well (a
  linear path: the model can do at least what a linear model on the genotypes does).

Robust on small cohorts (issue 26): with ``cfg["anchor"]`` the output is a fixed linear head
(:class:`LinearAnchor`, fitted in closed form before training by ``linear_head.py``: L2-logistic
regression on all SNPs or on PCA(10), chosen on the validation split) plus the network's output
as a residual whose last layer starts at zero, so an untrained model is the linear model and the
network only learns what the linear model misses. ``cfg["snp_dropout"]`` drops whole SNPs (both
haplotypes of a sample at a site) from the centred input during training.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

ARCHITECTURES = ("cnn", "cnn-transformer", "gnn")


class GenotypeInput(nn.Module):
    """(B, C, L) int8 -> (B, d, L) float embedding (:meth:`centre` then :meth:`embed`)."""

    def __init__(self, n_snps: int, channels: int, dim: int, snp_dropout: float = 0.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels, n_snps))
        self.weight = nn.Parameter(torch.randn(n_snps, dim, channels + 1) * (channels + 1) ** -0.5)
        with torch.no_grad():
            self.weight[:, :, -1] = 0       # mask channel: no effect until trained on missing data
        self.bias = nn.Parameter(torch.zeros(dim, n_snps))
        self.snp_dropout = snp_dropout

    def centre(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, L) int8 or float -> centred float (B, C, L) (missing = 0) and mask (B, 1, L)."""
        miss = x < 0
        xc = torch.where(miss, torch.zeros((), device=x.device), x.float() - self.mean)
        return xc, miss.any(1, keepdim=True).float()

    def embed(self, xc: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, L), (B, 1, L) -> (B, d, L)."""
        if self.training and self.snp_dropout > 0:
            # whole SNPs (all channels of a sample at a site) set to the training mean, rescaled
            keep = torch.rand_like(mask) >= self.snp_dropout
            xc = xc * keep / (1 - self.snp_dropout)
        feats = torch.cat([xc, mask], 1)                                       # (B, C + 1, L)
        # sum over the C + 1 input channels of (B, 1, L) x (d, L): elementwise, no per-SNP matmuls
        w = self.weight.permute(2, 1, 0)                                       # (C + 1, d, L)
        out = self.bias.unsqueeze(0)
        for c in range(feats.shape[1]):
            out = out + feats[:, c:c + 1] * w[c]
        return out                                                             # (B, d, L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(*self.centre(x))


class LinearAnchor(nn.Module):
    """Fixed linear head on the centred dosage: (B, C, L) centred -> (B, n_out) = W . sum_c xc + b.

    ``weight`` (n_out, L) and ``bias`` (n_out,) are buffers: fitted in closed form before training
    (``linear_head.fit``), saved with the model, never changed by the optimizer."""

    def __init__(self, n_snps: int, n_out: int):
        super().__init__()
        self.register_buffer("weight", torch.zeros(n_out, n_snps))
        self.register_buffer("bias", torch.zeros(n_out))

    def forward(self, xc: torch.Tensor) -> torch.Tensor:
        return xc.sum(1) @ self.weight.t() + self.bias


class SnpModel(nn.Module):
    """Shared frame: input stage, optional linear anchor, ``body`` (the architecture) as residual.

    forward(x (B, C, L), anchor_logits (B, n_out) | None) -> (B, n_out). During training the task
    passes the anchor's out-of-fold logits for the training samples (``anchor_logits``), so the
    residual learns what the linear model gets wrong on samples it has not seen; otherwise the
    anchor is evaluated on ``x``."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.input = GenotypeInput(cfg["n_snps"], cfg["in_channels"], cfg["embed_dim"], cfg.get("snp_dropout", 0.0))
        self.anchor = LinearAnchor(cfg["n_snps"], cfg["n_out"]) if cfg.get("anchor") else None

    def residual_start(self) -> None:
        """Zero the last layer of the head: the untrained model outputs exactly the anchor."""
        last = [m for m in self.head.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def body(self, e: torch.Tensor) -> torch.Tensor:      # (B, d, L) -> (B, n_out)
        raise NotImplementedError

    def forward(self, x: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        xc, mask = self.input.centre(x)
        out = self.body(self.input.embed(xc, mask))
        if self.anchor is None:
            return out
        lin = anchor_logits if anchor_logits is not None else self.anchor(xc)
        return out + lin.to(out.dtype)


class MultiScale(nn.Module):
    """Parallel convolutions with kernels 3/5/7, concatenated; BN (or GroupNorm) + ELU, max-pool 2, dropout.

    ``norm="group"``: per-sample GroupNorm instead of BatchNorm. The CNN-Transformer uses it: with
    BatchNorm its eval-mode outputs (running statistics) drifted from the training-mode ones at the
    learning rates that train it (a 4-population model predicted one class in eval mode only)."""

    def __init__(self, cin: int, cout: int, dropout: float, pool: bool = True, norm: str = "batch"):
        super().__init__()
        parts = [cout // 3, cout // 3, cout - 2 * (cout // 3)]
        self.convs = nn.ModuleList(nn.Conv1d(cin, c, k, padding=k // 2) for c, k in zip(parts, (3, 5, 7)))
        self.bn = nn.BatchNorm1d(cout) if norm == "batch" else nn.GroupNorm(1, cout)
        self.pool = nn.MaxPool1d(2, ceil_mode=True) if pool else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                      # (B, cin, L) -> (B, cout, ceil(L / 2))
        return self.drop(self.pool(F.elu(self.bn(torch.cat([c(x) for c in self.convs], 1)))))


class Stem(nn.Module):
    def __init__(self, dim: int, channels: tuple, dropout: float, ckpt: bool, norm: str = "batch"):
        super().__init__()
        cins = (dim,) + tuple(channels[:-1])
        self.stages = nn.ModuleList(MultiScale(a, b, dropout, norm=norm) for a, b in zip(cins, channels))
        self.ckpt = ckpt

    def forward(self, h):
        for s in self.stages:
            h = checkpoint(s, h, use_reentrant=False) if (self.ckpt and self.training) else s(h)
        return h


def _linear_path(e: torch.Tensor) -> torch.Tensor:
    """(B, d, L) -> (B, d): sum over SNPs / sqrt(L). Not the mean: with 1/L each SNP's weight
    would move the output by lr / L per optimizer step, and a few hundred samples give only a
    few hundred steps."""
    return e.sum(-1) * e.shape[-1] ** -0.5


def _pool(h: torch.Tensor) -> torch.Tensor:
    """(B, c, T) -> (B, 2c): mean and max over positions (global pooling, any length)."""
    return torch.cat([h.mean(-1), h.amax(-1)], 1)


class CNN(SnpModel):
    def __init__(self, cfg: dict):
        super().__init__(cfg)
        ch = tuple(cfg["channels"])
        self.stem = Stem(cfg["embed_dim"], ch, cfg["dropout"], cfg.get("grad_checkpoint", False))
        self.head = nn.Sequential(nn.Dropout(cfg["dropout"]), nn.Linear(2 * ch[-1] + cfg["embed_dim"], cfg["n_out"]))

    def body(self, e):
        return self.head(torch.cat([_pool(self.stem(e)), _linear_path(e)], 1))


class WindowAttention(nn.Module):
    """Pre-norm Transformer block over windows of ``window`` tokens; odd layers shift the windows
    by half a window so information crosses window edges. Keeps the last attention weights."""

    def __init__(self, dim: int, heads: int, window: int, shift: bool, dropout: float):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.keep_attention = False
        self.attention = None   # (B, T) attention each token receives, mean over heads and queries

    def forward(self, t):                                      # (B, T, dim), T a multiple of window
        B, T, D = t.shape
        s = self.window // 2 if self.shift else 0
        u = torch.roll(t, -s, 1) if s else t
        w = u.reshape(B * T // self.window, self.window, D)
        q = self.norm1(w)
        a, weights = self.attn(q, q, q, need_weights=self.keep_attention, average_attn_weights=True)
        if self.keep_attention and weights is not None:
            recv = weights.mean(1).reshape(B, T)               # mean over queries: attention received
            self.attention = torch.roll(recv, s, 1) if s else recv
        w = w + a
        w = w + self.ff(self.norm2(w))
        u = w.reshape(B, T, D)
        return torch.roll(u, s, 1) if s else u


class CNNTransformer(SnpModel):
    def __init__(self, cfg: dict):
        super().__init__(cfg)
        ch = tuple(cfg["channels"])
        self.stem = Stem(cfg["embed_dim"], ch, cfg["dropout"], cfg.get("grad_checkpoint", False), norm="group")
        self.down = 2 ** len(ch)                               # SNPs per token
        self.window = cfg["window"]
        self.blocks = nn.ModuleList(WindowAttention(ch[-1], cfg["heads"], cfg["window"], i % 2 == 1, cfg["dropout"])
                                    for i in range(cfg["layers"]))
        self.ckpt = cfg.get("grad_checkpoint", False)
        self.head = nn.Sequential(nn.LayerNorm(2 * ch[-1] + cfg["embed_dim"]), nn.Dropout(cfg["dropout"]),
                                  nn.Linear(2 * ch[-1] + cfg["embed_dim"], cfg["n_out"]))

    def body(self, e):
        t = self.stem(e).transpose(1, 2)                       # (B, T, c)
        T = t.shape[1]
        pad = (-T) % self.window
        if pad:
            t = F.pad(t, (0, 0, 0, pad))
        for b in self.blocks:
            t = checkpoint(b, t, use_reentrant=False) if (self.ckpt and self.training) else b(t)
        t = t[:, :T]
        return self.head(torch.cat([_pool(t.transpose(1, 2)), _linear_path(e)], 1))

    def snp_attention(self, n_snps: int) -> torch.Tensor | None:
        """(B, L) attention received per SNP (tokens spread back over the SNPs they pool), summed over layers."""
        maps = [b.attention for b in self.blocks if b.attention is not None]
        if not maps:
            return None
        tok = sum(maps)
        return tok.repeat_interleave(self.down, 1)[:, :n_snps]


class GraphLayer(nn.Module):
    """h' = h + ELU(LN(A_hat h W_msg + h W_self)): one round of message passing over the LD graph."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.msg = nn.Linear(dim, dim, bias=False)
        self.self_ = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, adj):                                 # h (B, L, d); adj sparse (L, L)
        B, L, D = h.shape
        m = self.msg(h)
        with torch.autocast(device_type=h.device.type, enabled=False):
            flat = m.float().transpose(0, 1).reshape(L, B * D)  # nodes x (batch * features)
            agg = torch.sparse.mm(adj, flat).reshape(L, B, D).transpose(0, 1)
        return h + self.drop(F.elu(self.norm(agg.to(h.dtype) + self.self_(h))))


class GNN(SnpModel):
    """SNPs are nodes, LD (r^2 >= threshold within a window) the edges, the same graph for every
    sample; each sample's genotypes are the node features. Symmetric-normalised r^2-weighted
    adjacency (D^-1/2 A D^-1/2), a sparse product per layer."""

    def __init__(self, cfg: dict):
        super().__init__(cfg)
        L, d = cfg["n_snps"], cfg["embed_dim"]
        self.n_snps = L
        self.register_buffer("edge_index", torch.zeros(2, cfg["n_edges"], dtype=torch.long))
        self.register_buffer("edge_weight", torch.zeros(cfg["n_edges"]))
        self.layers = nn.ModuleList(GraphLayer(d, cfg["dropout"]) for _ in range(cfg["layers"]))
        self.gate = nn.Linear(d, 1)                            # attention readout over nodes
        self.head = nn.Sequential(nn.Dropout(cfg["dropout"]), nn.Linear(3 * d, cfg["n_out"]))
        self.ckpt = cfg.get("grad_checkpoint", False)
        self._adj = None

    def set_graph(self, src, dst, r2) -> None:
        """Store the undirected graph (src < dst pairs) as both directions, normalised."""
        L = self.n_snps
        s = torch.as_tensor(src, dtype=torch.long)
        t = torch.as_tensor(dst, dtype=torch.long)
        w = torch.as_tensor(r2, dtype=torch.float32)
        ei = torch.stack([torch.cat([s, t]), torch.cat([t, s])])
        ww = torch.cat([w, w])
        deg = torch.zeros(L).index_add_(0, ei[0], ww) + 1e-6
        ww = ww / torch.sqrt(deg[ei[0]] * deg[ei[1]])
        self.edge_index.data = ei.to(self.edge_index.device)
        self.edge_weight.data = ww.to(self.edge_weight.device)
        self._adj = None

    def adjacency(self):
        L = self.n_snps
        dev = self.edge_index.device
        if self._adj is None or self._adj.device != dev:
            self._adj = torch.sparse_coo_tensor(self.edge_index, self.edge_weight, (L, L), check_invariants=False).coalesce().to(dev)
        return self._adj

    def body(self, e):                                         # e (B, d, L)
        h = e.transpose(1, 2)                                  # (B, L, d) node features
        adj = self.adjacency()
        for layer in self.layers:
            h = checkpoint(layer, h, adj, use_reentrant=False) if (self.ckpt and self.training) else layer(h, adj)
        g = torch.softmax(self.gate(h).squeeze(-1), 1)         # (B, L)
        read = torch.cat([h.mean(1), (g.unsqueeze(-1) * h).sum(1), _linear_path(e)], 1)
        return self.head(read)


def build(cfg: dict) -> nn.Module:
    """Model from its saved config (``model_io.load_model``'s ``build``)."""
    arch = cfg["architecture"]
    if arch == "cnn":
        return CNN(cfg)
    if arch == "cnn-transformer":
        return CNNTransformer(cfg)
    if arch == "gnn":
        return GNN(cfg)
    raise ValueError(f"unknown architecture {arch!r}")
