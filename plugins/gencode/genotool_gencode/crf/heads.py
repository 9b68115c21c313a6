"""The CRF heads over per-base label states: :class:`SemiCRFHead` (our exact semi-Markov CRF; K = 1
is the linear-chain CRF) and :class:`TorchCRFHead` (pytorch-crf, the external linear-chain
baseline). Both take emissions (B, T, C) and labels (B, T) and give per-sequence NLLs (B,) and MAP
decodings; the recursions live in :mod:`.recursion` and :mod:`.canonical`."""

from __future__ import annotations

import torch
from torch import nn

from genotool_gencode.config import DURATIONS, LONG_RUNS
from genotool_gencode.crf.durations import hat_basis, weights_for
from genotool_gencode.crf.recursion import (canonical_nll, canonical_viterbi, gold_max_durations,
                                            semicrf_log_partition, semicrf_viterbi, segments_to_labels)


class SemiCRFHead(nn.Module):
    """Transition (C, C) and duration bias (K, C) of the semi-CRF (K = 1: linear-chain CRF).

    ``durations='smooth'``: the duration bias is piecewise linear in log length (durations.py),
    parameterised by its values at the knots, ``duration_weights`` (J, C); ``'table'``: one free
    parameter per length, ``duration_bias`` (K, C) itself (models saved before smoothing).

    ``boundary_scores``: the emissions passed in are (B, T, 3C), per-base label scores, then the
    scores of a run starting and of a run ending at each base (canonical.py); they enter
    the canonical chain at label switches only. Forces the canonical chain (K = 1 included, where
    it is the linear-chain CRF with switch-dependent emissions).

    ``censor_edges``: the pieces at a sequence's edges score no duration; ``long_runs='tail'``: a
    run of K or more bases is a K piece and a geometric tail, ``transition[c, c]`` per extra base
    (else ``'pieces'``: full K pieces and a shorter last one); see canonical.py. Both
    force the canonical chain."""

    def __init__(self, num_classes: int, max_duration: int, init_scale: float = 0.1, backend: str = "streaming",
                 use_triton: bool = True, chain: str = "all", durations: str = "table",
                 boundary_scores: bool = False, censor_edges: bool = False, long_runs: str = "pieces",
                 orf_scores: bool = False):
        super().__init__()
        if chain not in ("all", "canonical"):
            raise ValueError(f"chain must be 'all' or 'canonical', not {chain!r}")
        if durations not in DURATIONS:
            raise ValueError(f"durations must be one of {DURATIONS}, not {durations!r}")
        if long_runs not in LONG_RUNS:
            raise ValueError(f"long_runs must be one of {LONG_RUNS}, not {long_runs!r}")
        self.tail = long_runs == "tail"
        # K = 1: both chains are the linear-chain CRF; these options exist only in the canonical recursion
        canonical = boundary_scores or censor_edges or self.tail
        self.chain = "canonical" if canonical else chain if max_duration > 1 else "all"
        self.boundary_scores, self.censor_edges = boundary_scores, censor_edges
        self.num_classes, self.max_duration = num_classes, max_duration
        self.transition = nn.Parameter(torch.randn(num_classes, num_classes) * init_scale)
        self.smooth = durations == "smooth" and max_duration > 1
        if self.smooth:
            basis = hat_basis(max_duration).float()
            self.register_buffer("duration_basis", basis, persistent=False)   # rebuilt from K on load
            self.duration_weights = nn.Parameter(torch.randn(basis.shape[1], num_classes) * init_scale)
        else:
            self.duration_table = nn.Parameter(torch.randn(max_duration, num_classes) * init_scale)
        self.backend = backend
        self.use_triton = use_triton
        self.orf_scores = orf_scores
        if orf_scores:
            from genotool_gencode.crf.orf import state_anchors

            if not (self.tail and max_duration > 1 and num_classes == len(state_anchors())):
                raise ValueError("ORF scores need a semi-CRF (K > 1) on strand-aware states with geometric tails")
            self.register_buffer("orf_anchors", state_anchors(), persistent=False)
            # a first/last exon holding a stop in its frame: about 1 in 60 annotated ones does
            # (non-coding transcripts); start near that log-odds and learn it
            self.orf_weight = nn.Parameter(torch.where(self.orf_anchors > 0, -4.0, 0.0))

    @property
    def duration_bias(self) -> torch.Tensor:
        """(K, C) duration scores, ``duration_bias[d - 1, c]`` for a segment of d bases of state c."""
        if self.smooth:
            return self.duration_basis.to(self.duration_weights.dtype) @ self.duration_weights
        return self.duration_table

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before the smooth parameterisation named the free table "duration_bias"
        old = state_dict.pop(prefix + "duration_bias", None)
        if old is not None:
            state_dict[prefix + "duration_table"] = old
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def log_partition(self, emissions, lengths, max_dur=None):
        if self.backend == "flash" and max_dur is None:
            return _flash_log_partition(emissions, self.transition, self.duration_bias, lengths,
                                        self.max_duration, self.use_triton)
        return semicrf_log_partition(emissions, self.transition, self.duration_bias, lengths, max_dur)

    def split(self, emissions):
        """(B, T, C), (B, T, 3C) with boundary scores, + 2 stop-codon channels with ORF scores ->
        (emissions, starts, ends, orf): starts and ends None without boundary scores, orf the
        (stops (B, T, 2), anchors, weight) of :func:`canonical_log_partition`, or None."""
        C = self.num_classes
        e = emissions[..., :C]
        st, en = (emissions[..., C:2 * C], emissions[..., 2 * C:3 * C]) if self.boundary_scores else (None, None)
        orf = None
        if self.orf_scores:
            orf = (emissions[..., -2:], self.orf_anchors, self.orf_weight.to(emissions.dtype))
        return e, st, en, orf

    def nll(self, emissions, labels, lengths):
        """(B,) exact NLL of the labelling (marginalised over segmentations; one segmentation
        per labelling with ``chain='canonical'``)."""
        if self.chain == "canonical":
            e, st, en, orf = self.split(emissions)
            return canonical_nll(e, self.transition, self.duration_bias, labels, lengths, st, en,
                                 self.censor_edges, self.tail, orf)
        if self.backend == "flash":
            emissions = _centre(emissions, lengths)
        md = gold_max_durations(labels, lengths, self.num_classes)
        return self.log_partition(emissions, lengths) - self.log_partition(emissions, lengths, md)

    def decode(self, emissions, lengths):
        if self.chain == "canonical":
            e, st, en, orf = self.split(emissions.float())
            _, segs = canonical_viterbi(e, self.transition.float(), self.duration_bias.float(), lengths, st, en,
                                        self.censor_edges, self.tail, orf)
            return [segments_to_labels(s, int(n)) for s, n in zip(segs, lengths.tolist())], segs
        if self.backend == "flash":
            emissions = _centre(emissions, lengths)
        _, segs = semicrf_viterbi(emissions.float(), self.transition.float(), self.duration_bias.float(), lengths)
        return [segments_to_labels(s, int(n)) for s, n in zip(segs, lengths.tolist())], segs

    def parameter_penalty(self):
        return self.transition.pow(2).sum() + self.duration_bias.pow(2).sum()

    @torch.no_grad()
    def init_structure(self, stats) -> None:
        """Transitions (and durations, K > 1) from training-label counts (see priors.py); smooth
        durations start from the kernel-smoothed counts."""
        from genotool_gencode.crf.priors import canonical_semicrf_init, linear_chain_init

        if self.max_duration == 1:
            trans, _ = linear_chain_init(stats)
            self.duration_table.zero_()
        else:
            trans, dur = canonical_semicrf_init(stats, self.max_duration, smooth=self.smooth, tail=self.tail)
            if self.smooth:
                self.duration_weights.copy_(torch.as_tensor(weights_for(dur), dtype=self.duration_weights.dtype))
            else:
                self.duration_table.copy_(torch.as_tensor(dur, dtype=self.duration_table.dtype))
        self.transition.copy_(torch.as_tensor(trans, dtype=self.transition.dtype))

    def parameter_stats(self) -> dict:
        return {"transition": self.transition.detach(), "duration_bias": self.duration_bias.detach()}


def _centre(emissions, lengths):
    """flash-semicrf centres scores over time per class; we do it explicitly (over valid
    positions) and feed both partition functions the same scores, so the likelihood stays exact."""
    B, T, C = emissions.shape
    mask = (torch.arange(T, device=emissions.device).view(1, T) < lengths.view(B, 1)).unsqueeze(-1)
    mean = (emissions * mask).sum(1, keepdim=True) / lengths.view(B, 1, 1)
    return emissions - mean


def _flash_log_partition(emissions, transition, duration, lengths, K, use_triton):
    """log Z from flash-semicrf 0.2.0's streaming partition (its partition is correct; its gold
    score is not, so it is only used for log Z). Emissions must already be centred."""
    from genotool.errors import require_module

    require_module("flash_semicrf", "flash-semicrf", "genotool-gencode[reference]", "--backend flash")
    from flash_semicrf.streaming import semi_crf_streaming_forward

    B, T, C = emissions.shape
    cum = torch.zeros(B, T + 1, C, dtype=torch.float64, device=emissions.device)
    cum = torch.cat([cum[:, :1], torch.cumsum(emissions.double(), dim=1)], dim=1)
    use_triton = bool(use_triton and emissions.is_cuda)
    return semi_crf_streaming_forward(cum, transition, duration, lengths, K, semiring="log",
                                      use_triton=use_triton).float()


class TorchCRFHead(nn.Module):
    """pytorch-crf 0.7.2 (``torchcrf.CRF``) as the external linear-chain baseline."""

    def __init__(self, num_classes: int):
        super().__init__()
        from torchcrf import CRF

        self.crf = CRF(num_classes, batch_first=True)
        self.num_classes = num_classes

    def _mask(self, lengths, T):
        return torch.arange(T, device=lengths.device).view(1, T) < lengths.view(-1, 1)

    def nll(self, emissions, labels, lengths):
        mask = self._mask(lengths, emissions.shape[1])
        tags = labels.clamp(0, self.num_classes - 1).long()
        return -self.crf(emissions.float(), tags, mask=mask, reduction="none")

    def decode(self, emissions, lengths):
        from genotool_gencode.crf.common import labels_to_runs

        paths = self.crf.decode(emissions.float(), mask=self._mask(lengths, emissions.shape[1]))
        return paths, [labels_to_runs(p) for p in paths]

    @torch.no_grad()
    def init_structure(self, stats) -> None:
        """The first-order HMM estimate from training-label counts (see priors.py)."""
        from genotool_gencode.crf.priors import linear_chain_init

        trans, start = linear_chain_init(stats)
        self.crf.transitions.copy_(torch.as_tensor(trans, dtype=self.crf.transitions.dtype))
        self.crf.start_transitions.copy_(torch.as_tensor(start, dtype=self.crf.start_transitions.dtype))
        self.crf.end_transitions.zero_()

    def parameter_penalty(self):
        c = self.crf
        return c.transitions.pow(2).sum() + c.start_transitions.pow(2).sum() + c.end_transitions.pow(2).sum()

    def parameter_stats(self) -> dict:
        return {"transition": self.crf.transitions.detach()}
