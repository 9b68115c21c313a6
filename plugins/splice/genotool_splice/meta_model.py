"""The meta-layer: sequence encoder + score encoder + fusion + MLP head (donor 0, acceptor 1, neither 2).

* Sequence encoder (CNN): one-hot window (B, 4, W) -> parallel Conv1d per kernel size
  (F filters each, 'same' padding) -> concat (B, F*k, W) -> GELU -> Conv1d(F*k -> F, 3) -> GELU
  -> tokens (B, W, F); global max-pool over W -> Linear(F -> H): (B, H).
* Score encoder: (B, 43) -> Linear -> LayerNorm -> GELU -> Dropout -> Linear: (B, H).
* Fusion: concat (Linear(2H -> H)), add, or cross-attention (the score embedding queries the
  sequence tokens projected to H; 4 heads; residual + LayerNorm).
* Head: Linear(H, H) -> GELU -> Dropout -> Linear(H, 3) logits.

``architecture='score-only'`` drops the sequence encoder (the ablation baseline).
"""

from __future__ import annotations

import torch
from torch import nn

PRESETS = {
    "lightweight": {"kernels": [3, 5, 7], "filters": 32, "hidden": 128, "genome_hidden": 64, "lr": 1e-3,
                    "weight_decay": 0.01, "patience": 4, "epochs": 20, "batch_size": 64},
    "default": {"kernels": [3, 5, 7, 11], "filters": 64, "hidden": 256, "genome_hidden": 128, "lr": 1e-4,
                "weight_decay": 0.01, "patience": 10, "epochs": 50, "batch_size": 64},
}
ARCHITECTURES = ("meta", "score-only")
FUSIONS = ("concat", "add", "cross-attention")
ENCODERS = ("cnn",)


class CNNSequenceEncoder(nn.Module):
    def __init__(self, kernels, filters: int, hidden: int):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv1d(4, filters, k, padding=k // 2) for k in kernels)
        self.mix = nn.Conv1d(filters * len(kernels), filters, 3, padding=1)
        self.proj = nn.Linear(filters, hidden)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 4, W) -> (pooled (B, H), tokens (B, W, F))."""
        h = self.act(torch.cat([b(x) for b in self.branches], dim=1))
        h = self.act(self.mix(h))
        return self.proj(h.amax(dim=2)), h.transpose(1, 2)


class ScoreEncoder(nn.Module):
    def __init__(self, n_features: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, hidden))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


class MetaSpliceModel(nn.Module):
    def __init__(self, architecture: str = "meta", kernels=(3, 5, 7), filters: int = 32, hidden: int = 128,
                 n_features: int = 43, fusion: str = "concat", dropout: float = 0.1, **_):
        super().__init__()
        self.architecture, self.fusion_kind = architecture, fusion
        self.scores = ScoreEncoder(n_features, hidden, dropout)
        if architecture == "meta":
            self.sequence = CNNSequenceEncoder(kernels, filters, hidden)
            if fusion == "concat":
                self.fuse = nn.Linear(2 * hidden, hidden)
            elif fusion == "cross-attention":
                self.token_proj = nn.Linear(filters, hidden)
                self.attn = nn.MultiheadAttention(hidden, num_heads=4, batch_first=True)
                self.norm = nn.LayerNorm(hidden)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 3))

    def forward(self, window: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """window (B, W) uint8 codes (4 = N), features (B, 43) standardised -> logits (B, 3)."""
        s = self.scores(features)
        if self.architecture == "meta":
            x = nn.functional.one_hot(window.long(), 5)[..., :4].transpose(1, 2).to(s.dtype)   # (B, 4, W)
            pooled, tokens = self.sequence(x)
            if self.fusion_kind == "concat":
                s = self.fuse(torch.cat([s, pooled], dim=1))
            elif self.fusion_kind == "add":
                s = s + pooled
            else:
                kv = self.token_proj(tokens)
                att, _ = self.attn(s.unsqueeze(1), kv, kv, need_weights=False)
                s = self.norm(s + att.squeeze(1) + pooled)
        return self.head(s)


def build_meta(config: dict) -> MetaSpliceModel:
    return MetaSpliceModel(**config)
