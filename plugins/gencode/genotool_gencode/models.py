"""Encoder + CRF head models: ``semicrf`` (K > 1), ``linear`` (the same code with K = 1) and
``pytorch-crf`` (the external linear-chain CRF baseline).

All three share the encoder and the emission projection; only the structured head differs, so a
comparison isolates what duration modelling adds. Losses are normalised per valid position
(sum of sequence NLLs / number of positions) for every head alike.
"""

from __future__ import annotations

import torch
from torch import nn

from genotool_gencode.config import HEADS, ModelConfig
from genotool_gencode.crf.heads import SemiCRFHead, TorchCRFHead
from genotool_gencode.encoders import build_encoder
from genotool_gencode.labels import NUM_LABELS, NUM_STATES, STATE_LABEL

MODELS = HEADS


class SegmentationModel(nn.Module):
    """one-hot DNA (B, T) -> encoder (B, T, H) -> emissions (B, T, C) -> CRF head.

    C is 21 strand-aware states (``states: strand``, labels.py) or the 11 labels; decoding
    always returns labels."""

    def __init__(self, config: ModelConfig | dict, device_type: str = "cpu"):
        super().__init__()
        # a dict is a saved config (model_config.json): upgraded, older models keep their behaviour
        c = self.config = config if isinstance(config, ModelConfig) else ModelConfig.from_json(config)
        self.encoder = build_encoder(c.encoder, hidden_dim=c.hidden_dim, num_layers=c.num_layers,
                                     d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, device_type=device_type)
        self.strand_states = c.states == "strand"
        n = NUM_STATES if self.strand_states else NUM_LABELS
        self._state_label = torch.tensor(STATE_LABEL if self.strand_states else list(range(NUM_LABELS)))
        # boundary scores (linear / semicrf): 2n more outputs, zero at start so the model begins
        # as the one without them (and its structure init is unchanged); see SemiCRFHead
        self.boundary_scores = bool(c.boundary_scores)
        head_options = dict(boundary_scores=self.boundary_scores, censor_edges=bool(c.censor_edges),
                            long_runs=c.long_runs)
        self.projection = nn.Linear(c.hidden_dim, n * (3 if self.boundary_scores else 1))
        if self.boundary_scores:
            with torch.no_grad():
                self.projection.weight[n:].zero_()
                self.projection.bias[n:].zero_()
        self.emission_clamp = float(c.emission_clamp)
        if c.head == "pytorch-crf":
            self.head = TorchCRFHead(n)
        else:
            self.head = SemiCRFHead(n, c.K, backend=c.backend, use_triton=not c.no_triton, chain=c.chain,
                                    durations=c.durations, orf_scores=c.orf_scores, **head_options)
        # semicrf: the first N epochs train the encoder under a linear-chain CRF on the same
        # emissions (cheaper, and it sharpens per-base boundary evidence); then the semi-CRF
        self.warmup_epochs = int(c.linear_warmup_epochs)   # ModelConfig.for_head: 0 unless semicrf
        self.warmup_head = SemiCRFHead(n, 1, **head_options) if self.warmup_epochs > 0 else None
        self.orf_scores = bool(getattr(self.head, "orf_scores", False))

    def encode(self, x, lengths=None):
        """(B, T) int -> (hidden (B, T, H), emissions (B, T, C), or (B, T, 3C) with boundary
        scores); with ORF scores two more channels, the sequence's stop-codon tracks (crf/orf.py):
        the head's inputs travel together through evaluation, prediction and DDP."""
        h = self.encoder(x, lengths)
        if self.emission_clamp > 0:
            # bounds encoder outputs (the NaN guard of the design note for very long inputs)
            h = h.clamp(-self.emission_clamp, self.emission_clamp)
        em = self.projection(h)
        if self.orf_scores:
            from genotool_gencode.crf.orf import stop_codon_tracks

            em = torch.cat([em, stop_codon_tracks(x).to(em.dtype)], dim=-1)
        return h, em

    def forward(self, x, y, lengths, crf_reg: float = 0.0, warmup: bool = False):
        """Training loss (through ``__call__`` so DistributedDataParallel sees the forward)."""
        return self.loss(x, y, lengths, crf_reg, warmup)

    def loss(self, x, y, lengths, crf_reg: float = 0.0, warmup: bool = False):
        """Per-position NLL of the head (of the linear-chain warm-up head when ``warmup``)."""
        head = self.warmup_head if warmup and self.warmup_head is not None else self.head
        _, em = self.encode(x, lengths)
        loss = head.nll(em, y, lengths).sum() / lengths.sum()
        if crf_reg > 0:
            loss = loss + crf_reg * head.parameter_penalty()
        return loss

    def labels_of(self, states: torch.Tensor) -> torch.Tensor:
        """States (any shape) -> the 11 labels."""
        return self._state_label.to(states.device)[states.long()]

    @torch.no_grad()
    def decode_emissions(self, em, lengths):
        """MAP decoding -> (list of label lists, list of segment lists (start, end_exclusive, label))."""
        paths, segs = self.head.decode(em.float(), lengths)
        m = self._state_label.tolist()
        return [[m[s] for s in p] for p in paths], [[(a, b, m[s]) for a, b, s in z] for z in segs]

    @torch.no_grad()
    def decode(self, x, lengths):
        """-> (list of label lists, list of segment lists (start, end_exclusive, label))."""
        _, em = self.encode(x, lengths)
        return self.decode_emissions(em, lengths)

    @torch.no_grad()
    def decode_strand(self, x, lengths):
        """-> list of (labels, minus) per sequence: the MAP labels and whether each base's state is
        a minus-strand one (all False for models over the 11 labels)."""
        _, em = self.encode(x, lengths)
        paths, _ = self.head.decode(em.float(), lengths)
        m = self._state_label.tolist()
        n = NUM_LABELS if self.strand_states else 10 ** 9
        return [([m[s] for s in p], [s >= n for s in p]) for p in paths]
