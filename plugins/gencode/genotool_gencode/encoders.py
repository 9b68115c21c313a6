"""Sequence encoders: one-hot DNA -> (B, T, hidden_dim) features.

* ``bilstm``: a width-9 convolution (local motifs such as splice sites) followed by a
  bidirectional LSTM, with a residual connection around the LSTM.
* ``mamba``: the same convolution followed by bidirectional Mamba layers (a forward and a
  time-reversed selective-scan SSM per layer, summed, with a residual and LayerNorm). On CUDA with
  ``mamba-ssm`` installed its fused kernel is used; otherwise ``mambapy`` (a real selective scan
  in PyTorch with a parallel scan), so the CPU path is the same model class, not a stub.
"""

from __future__ import annotations

import torch
from torch import nn

ALPHABET = "ACGTN"
_LUT = torch.full((256,), 4, dtype=torch.uint8)
for _i, _c in enumerate("ACGT"):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i


def encode_sequence(seq: str) -> torch.Tensor:
    """DNA string -> (T,) uint8 indices into A,C,G,T,N (anything else is N)."""
    raw = torch.frombuffer(bytearray(seq.encode("ascii", "replace")), dtype=torch.uint8)
    return _LUT[raw.long()]


def one_hot(x: torch.Tensor) -> torch.Tensor:
    """(B, T) int in 0..4 -> (B, T, 5) float one-hot."""
    return nn.functional.one_hot(x.long(), num_classes=5).float()


class ConvStem(nn.Module):
    def __init__(self, hidden_dim: int, width: int = 9):
        super().__init__()
        self.conv = nn.Conv1d(5, hidden_dim, width, padding=width // 2)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) int -> (B, T, hidden_dim); past a sequence's length the input is zero, as
        the convolution's own padding is at a sequence's end (a padded record reads as itself)."""
        oh = one_hot(x)
        if lengths is not None and bool((lengths < x.shape[1]).any()):
            t = torch.arange(x.shape[1], device=x.device).view(1, -1, 1)
            oh = oh * (t < lengths.to(x.device).view(-1, 1, 1)).to(oh.dtype)
        return self.act(self.conv(oh.transpose(1, 2))).transpose(1, 2)


class BiLSTMEncoder(nn.Module):
    def __init__(self, hidden_dim: int = 256, num_layers: int = 2, dropout: float = 0.0):
        super().__init__()
        if hidden_dim % 2:
            raise ValueError("hidden_dim must be even for a bidirectional LSTM")
        self.stem = ConvStem(hidden_dim)
        self.lstm = nn.LSTM(hidden_dim, hidden_dim // 2, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.norm = nn.LayerNorm(hidden_dim)
        self.hidden_dim = hidden_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) int -> (B, T, hidden_dim)."""
        h0 = self.stem(x, lengths)
        if lengths is not None and bool((lengths < x.shape[1]).any()):
            # padded batch (records of unequal length): pack, so the reverse direction starts at
            # each sequence's own end, not after the padding (a 400 bp record batched with a
            # 100 kb one would otherwise be read after 100 kb of N)
            from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

            packed = pack_padded_sequence(h0, lengths.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.shape[1])
        else:
            h, _ = self.lstm(h0)
        # residual around the LSTM: the stem's sharp per-base motif features (a GT donor, an
        # AG acceptor) reach the emissions directly, so boundaries need not survive the recurrence
        return self.norm(h + h0)


def mamba_backend(device_type: str) -> str:
    """'mamba-ssm' on CUDA when importable, else 'mambapy'."""
    if device_type == "cuda":
        try:
            import mamba_ssm  # noqa: F401

            return "mamba-ssm"
        except Exception:  # noqa: BLE001 - any import failure (no CUDA build) -> PyTorch scan
            pass
    return "mambapy"


class _MambaDirection(nn.Module):
    """One direction of Mamba layers: (B, T, D) -> (B, T, D)."""

    def __init__(self, d_model, n_layers, d_state, d_conv, expand, backend):
        super().__init__()
        self.backend = backend
        if backend == "mamba-ssm":
            from mamba_ssm import Mamba as FusedMamba

            self.layers = nn.ModuleList(FusedMamba(d_model=d_model, d_state=d_state, d_conv=d_conv, expand=expand)
                                        for _ in range(n_layers))
            self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        else:
            from mambapy.mamba import Mamba, MambaConfig

            cfg = MambaConfig(d_model=d_model, n_layers=n_layers, d_state=d_state, expand_factor=expand,
                              d_conv=d_conv, pscan=True)
            self.model = Mamba(cfg)

    def forward(self, h):
        if self.backend == "mamba-ssm":
            for layer, norm in zip(self.layers, self.norms):
                h = h + layer(norm(h))
            return h
        return self.model(h)


class MambaEncoder(nn.Module):
    def __init__(self, hidden_dim: int = 256, num_layers: int = 2, d_state: int = 16, d_conv: int = 4,
                 expand: int = 2, backend: str = "mambapy"):
        super().__init__()
        self.stem = ConvStem(hidden_dim)
        self.fwd = _MambaDirection(hidden_dim, num_layers, d_state, d_conv, expand, backend)
        self.bwd = _MambaDirection(hidden_dim, num_layers, d_state, d_conv, expand, backend)
        self.norm = nn.LayerNorm(hidden_dim)
        self.hidden_dim = hidden_dim
        self.backend = backend

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) int -> (B, T, hidden_dim); the reverse pass sees the sequence flipped in time."""
        h = self.stem(x, lengths)
        f = self.fwd(h)
        if lengths is not None and bool((lengths < x.shape[1]).any()):
            # reverse each sequence within its own length (padding stays at the end)
            T = x.shape[1]
            t = torch.arange(T, device=x.device).view(1, T)
            L = lengths.to(x.device).view(-1, 1)
            idx = torch.where(t < L, L - 1 - t, t).unsqueeze(-1).expand(-1, -1, h.shape[-1])
            b = self.bwd(h.gather(1, idx)).gather(1, idx)
        else:
            b = self.bwd(h.flip(1)).flip(1)
        return self.norm(f + b)


def build_encoder(name: str, *, hidden_dim: int, num_layers: int, d_state: int = 16, d_conv: int = 4,
                  expand: int = 2, device_type: str = "cpu") -> nn.Module:
    if name == "bilstm":
        return BiLSTMEncoder(hidden_dim, num_layers)
    if name == "mamba":
        return MambaEncoder(hidden_dim, num_layers, d_state, d_conv, expand, mamba_backend(device_type))
    raise ValueError(f"unknown encoder {name!r}")
