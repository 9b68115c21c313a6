"""Primitives shared by the generic semi-CRF (recursion.py) and its canonical-chain recursion
(canonical.py): cumulative emissions, input checks, the single-thread guard, back-tracking
and conversions between labellings and runs. A module of its own so the two recursions import it
and not each other."""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def _cumsum(emissions: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, T+1, C) float64 with S_0 = 0."""
    B, T, C = emissions.shape
    S = emissions.new_zeros((B, T + 1, C), dtype=torch.float64)
    S[:, 1:] = torch.cumsum(emissions.to(torch.float64), dim=1)
    return S


class _single_thread:
    """Run the recursions with one intra-op thread.

    Each step works on a (B, K, C) tensor (22k elements at B=4, K=500, C=11): far too small for
    intra-op parallelism to pay, and on a loaded machine the thread-pool barriers of thousands
    of tiny ops cost 5-10x (measured: B=4, T=10k, K=500 loss forward 10 s with 1 thread vs
    100 s with 2 threads while other processes ran). CUDA is unaffected.
    """

    def __init__(self, device):
        self.active = device.type == "cpu"

    def __enter__(self):
        if self.active:
            self.prev = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        if self.active:
            torch.set_num_threads(self.prev)


def _check(emissions, transition, duration, lengths):
    if emissions.dim() != 3:
        raise ValueError(f"emissions must be (B, T, C), got {tuple(emissions.shape)}")
    B, T, C = emissions.shape
    if transition.shape != (C, C):
        raise ValueError(f"transition must be ({C}, {C}), got {tuple(transition.shape)}")
    if duration.dim() != 2 or duration.shape[1] != C:
        raise ValueError(f"duration must be (K, {C}), got {tuple(duration.shape)}")
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=emissions.device)
    lengths = lengths.to(emissions.device).long()
    if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
        raise ValueError("lengths must be (B,) with values in 1..T")
    return lengths


def _backtrack(lengths, final_state, piece):
    """Segments per sequence from back-pointers, last to first. ``piece(b, t, state)`` gives the
    segment ending at t in ``state`` as (duration, label, state of the segment before it)."""
    segs_all = []
    for b in range(len(final_state)):
        t, state, segs = int(lengths[b]), int(final_state[b]), []
        while t > 0:
            d, c, prev = piece(b, t, state)
            segs.append((t - d, t, c))
            t, state = t - d, prev
        segs.reverse()
        segs_all.append(segs)
    return segs_all


def segments_to_labels(segments, length: int, fill: int = 0):
    """List of (start, end, label) -> list of ``length`` labels."""
    out = [fill] * length
    for s, e, c in segments:
        out[s:e] = [c] * (e - s)
    return out


def labels_to_runs(labels) -> list[tuple[int, int, int]]:
    """Labelling -> maximal runs (start, end_exclusive, label)."""
    runs = []
    n = len(labels)
    i = 0
    while i < n:
        j = i + 1
        while j < n and labels[j] == labels[i]:
            j += 1
        runs.append((i, j, int(labels[i])))
        i = j
    return runs


def off_diagonal(transition: torch.Tensor) -> torch.Tensor:
    """(C, C) transitions with the same-label diagonal at -inf (a switch to another label)."""
    eye = torch.eye(transition.shape[0], dtype=torch.bool, device=transition.device)
    return transition.masked_fill(eye, NEG_INF)
