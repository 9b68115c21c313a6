"""The genome-wide meta-layer: every position of a block rescored in one convolutional pass.

The candidate-row model (:mod:`genotool_splice.meta_model`) sees one 501 nt window per
position; scoring every position of a chromosome that way costs ~30x the base model. This net
computes the same kinds of evidence densely, so a whole chromosome costs about what the base
model costs:

* score path: the 43 features of every position (:func:`features.dense_features`), squashed and
  standardised with the training positions' mean/sd (buffers), then Linear(43 -> H) ->
  LayerNorm -> GELU -> Dropout -> Linear(H -> H) per position;
* sequence path (``architecture='meta'``): one-hot (B, 4, L) -> parallel convolutions per kernel
  (F filters each; run as one convolution whose filters of each group are masked to the group's
  width: no concat) -> LeakyReLU -> convolution (k=3) -> LeakyReLU = tokens (B, F, L);
  local evidence: residual dilated convolutions (kernel 3, dilations 1..32, ~±67 nt); window
  evidence: the max of the tokens over the ``window`` centred on each position (the row model's
  global max-pool, slid along the sequence); Linear(2F -> H) per position (two matmuls, no concat). The convolutions
  are 2-D ones over (B, C, 1, L) tensors in ``channels_last`` memory: oneDNN's direct kernel,
  ~3x the speed of ``Conv1d`` for the dilated ones on CPU (see ``inference_net``), in training
  too;
* fusion (``concat``: Linear(2H -> H), again as two matmuls; ``add``: the sum), head Linear(H, H) -> GELU -> Dropout -> Linear(H, 3);
* output: logits = scale * log(base probability) + head, per class (donor, acceptor, neither).
  The head's last layer starts at zero and ``scale`` at 1, so an untrained net returns the base
  model's probabilities exactly: training can only move it away from the base where the
  training positions ask for it.

Input: codes (B, S + 2 margin) uint8 (4 = N) and the base probabilities (B, S + 2 margin, 3) in
the base's channel order (neither, acceptor, donor), zero beyond a sequence's ends; output
logits (B, S, 3) in (donor, acceptor, neither) order for the S central positions. ``margin``
covers the sequence path's receptive field and the features' +/-2 neighbours, so a block's
output does not depend on how a long sequence was cut into blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from genotool_splice.features import N_FEATURES, dense_features, squash

DILATIONS = (1, 2, 4, 8, 16, 32)
LOCAL_KERNEL = 3
BASE_EPS = 1e-8


def sliding_max(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B, C, L) -> (B, C, L - width + 1): out[..., j] = max(x[..., j:j + width]) (log-doubling:
    ~log2(width) elementwise maxima instead of max_pool1d's width comparisons per position)."""
    k, y = 1, x
    while 2 * k <= width:
        y = torch.maximum(y[..., :-k], y[..., k:])
        k *= 2
    n = x.shape[-1] - width + 1
    return torch.maximum(y[..., :n], y[..., width - k:width - k + n])


def _conv(c_in: int, c_out: int, k: int, dilation: int = 1) -> nn.Conv2d:
    """A 1-D convolution along L of (B, C, 1, L) tensors ('same' padding)."""
    return nn.Conv2d(c_in, c_out, (1, k), dilation=(1, dilation), padding=(0, dilation * (k - 1) // 2))


class LocalUnit(nn.Module):
    """x + conv(LeakyReLU(x)), kernel 5, one dilation ('same' padding); x (B, C, 1, L)."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = _conv(channels, channels, LOCAL_KERNEL, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(nn.functional.leaky_relu(x, 0.1))


class GenomeMetaNet(nn.Module):
    def __init__(self, architecture: str = "meta", kernels=(3, 5, 7), filters: int = 32, hidden: int = 128,
                 window: int = 501, dropout: float = 0.1, fusion: str = "concat", dilations=DILATIONS, **_):
        super().__init__()
        self.architecture, self.fusion = architecture, fusion
        self.window = int(window)
        self.register_buffer("feat_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feat_std", torch.ones(N_FEATURES))
        self.scores = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                    nn.Dropout(dropout), nn.Linear(hidden, hidden))
        seq_reach = 0
        if architecture == "meta":
            kmax = max(kernels)
            self.branches = _conv(4, filters * len(kernels), kmax)
            mask = torch.zeros(filters * len(kernels), 1, 1, kmax)
            for g, k in enumerate(kernels):            # group g sees the k central taps only
                mask[g * filters:(g + 1) * filters, ..., (kmax - k) // 2:(kmax + k) // 2] = 1
            self.register_buffer("branch_mask", mask)
            self.mix = _conv(filters * len(kernels), filters, 3)
            self.local = nn.Sequential(*(LocalUnit(filters, d) for d in dilations))
            self.seq_local = nn.Linear(filters, hidden)
            self.seq_pool = nn.Linear(filters, hidden, bias=False)
            if fusion == "concat":
                self.fuse_scores = nn.Linear(hidden, hidden)
                self.fuse_seq = nn.Linear(hidden, hidden, bias=False)
            token_reach = max(kernels) // 2 + 1
            seq_reach = token_reach + max(self.window // 2,
                                          sum(d * (LOCAL_KERNEL - 1) // 2 for d in dilations))
        self.margin = max(2, seq_reach)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 3))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.scale = nn.Parameter(torch.ones(3))

    def set_feature_stats(self, mean, std) -> None:
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def base_logp(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, S, 3) base probabilities (neither, acceptor, donor) -> log p in (donor, acceptor, neither)."""
        return torch.log(probs.flip(-1).float() + BASE_EPS)

    def forward(self, codes: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """codes (B, L) uint8, probs (B, L, 3) -> logits (B, L - 2 margin, 3) (donor, acceptor, neither)."""
        m = self.margin
        L = codes.shape[1]
        S = L - 2 * m
        probs = probs.float()
        f = dense_features(probs[:, m - 2:L - m + 2], 2)                       # (B, S, 43)
        f = (squash(f) - self.feat_mean) / self.feat_std
        h = self.scores(f.to(self.scores[0].weight.dtype))
        if self.architecture == "meta":
            x = nn.functional.one_hot(codes.long(), 5)[..., :4].to(h.dtype)    # (B, L, 4) = (B, 4, 1, L)
            x = x.unsqueeze(1).permute(0, 3, 1, 2)                               # in channels_last memory
            b = self.branches
            t = nn.functional.conv2d(x, b.weight * self.branch_mask, b.bias, padding=b.padding)
            t = nn.functional.leaky_relu(self.mix(nn.functional.leaky_relu(t, 0.1)), 0.1)   # (B, F, 1, L)
            local = self.local(t)[..., 0, m:L - m]                              # (B, F, S)
            w = self.window
            pooled = sliding_max(t[..., 0, m - w // 2:L - m + w // 2], w)       # (B, F, S)
            seq = self.seq_local(local.transpose(1, 2)) + self.seq_pool(pooled.transpose(1, 2))   # (B, S, H)
            h = self.fuse_scores(h) + self.fuse_seq(seq) if self.fusion == "concat" else h + seq
        correction = self.head(h).float()
        return self.scale * self.base_logp(probs[:, m:L - m]) + correction


def build_genome_meta(config: dict) -> GenomeMetaNet:
    return GenomeMetaNet(**config)
