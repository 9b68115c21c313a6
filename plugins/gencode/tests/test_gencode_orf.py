"""ORF scores: stop-codon tracks, the per-state frame anchors against simulated genes, and the
option's path from config to head."""

import json

import pytest
import torch

from genotool_gencode.encoders import encode_sequence
from genotool_gencode.crf.orf import stop_codon_tracks, state_anchors
from genotool_gencode.crf.recursion import canonical_nll, labels_to_runs
from genotool_gencode.crf.canonical import OrfScores



def _cfg(**kw) -> dict:
    """A saved-config dict for ``head`` with the options off unless given (ModelConfig.for_head)."""
    from genotool_gencode.config import ModelConfig

    if "model" in kw:
        kw["head"] = kw.pop("model")
    base = dict(boundary_scores=False, censor_edges=False, long_runs="pieces", orf_scores=False)
    return ModelConfig(**{**base, **kw}).for_head().to_json()


def test_stop_codon_tracks_mark_both_strands():
    seq = "TAACTTAGTGANNTCA"        # TAA at 0, TTA at 4, TAG at 5, TGA at 8, TCA at 13
    tr = stop_codon_tracks(encode_sequence(seq).unsqueeze(0))[0]
    assert tr[:, 0].nonzero().squeeze(1).tolist() == [0, 5, 8]
    assert tr[:, 1].nonzero().squeeze(1).tolist() == [4, 13]
    assert stop_codon_tracks(encode_sequence("TA").unsqueeze(0)).sum() == 0


def _anchored_runs(tiny_data):
    """(chunk tracks (1, T, 2), start, end, state) of every first/last exon run inside a chunk."""
    from genotool_gencode.train import ChunkDataset

    anchors = state_anchors()
    for split in ("train", "val", "test"):
        ds = ChunkDataset(tiny_data / f"{split}.jsonl")
        for i in range(len(ds)):
            x, y = ds[i]
            tracks = stop_codon_tracks(x.unsqueeze(0))
            runs = labels_to_runs(y.tolist())
            for s, e, c in runs[1:-1]:                        # not cut by the chunk's edges
                if anchors[c] > 0:
                    yield tracks, s, e, c


def test_anchored_frames_are_open_in_simulated_genes(tiny_data):
    """The anchors say the right thing on both strands: true first/last exons hold no stop in
    their anchored frame (bar non-coding genes, ~5%), while moving the anchored end by one or two
    bases (a wrong start or stop) often does."""
    anchors = state_anchors()
    n = open_ok = shifted_hits = 0
    for tracks, s, e, c in _anchored_runs(tiny_data):
        orf = OrfScores(tracks, anchors, torch.zeros(len(anchors)))
        col = orf.cols.tolist().index(c)

        def hit(a, b):
            return bool(orf.hits(torch.tensor([[a]]), torch.tensor([[b]]))[0, 0, col])

        n += 1
        open_ok += not hit(s, e)
        at_start = int(anchors[c]) in (1, 3)
        shifted_hits += sum(hit(s + d, e) if at_start else hit(s, e - d) for d in (1, 2))
    assert n >= 15
    assert open_ok >= 0.9 * n
    assert shifted_hits >= 0.5 * 2 * n


def test_orf_option_reaches_the_head_and_old_models_have_none():
    """semicrf with tails and strand states gets ORF scores (two stop-codon channels after the
    emissions, a learned weight per anchored state, in the likelihood); linear, pytorch-crf,
    label states, pieces and models saved before the option do not."""
    from genotool_gencode.models import SegmentationModel

    torch.manual_seed(0)
    base = dict(encoder="bilstm", max_duration=8, hidden_dim=8, num_layers=1, boundary_scores=True,
                censor_edges=True, long_runs="tail", orf_scores=True)
    cfg = _cfg(head="semicrf", **base)
    assert cfg["orf_scores"] is True
    for other in (dict(model="linear"), dict(model="pytorch-crf"), dict(model="semicrf", states="labels"),
                  dict(model="semicrf", long_runs="pieces")):
        assert _cfg(**{**base, **other})["orf_scores"] is False
    m = SegmentationModel(cfg)
    x = encode_sequence("ACGATGTAAGGCTAGCCTTAGGATCATGA" * 3).unsqueeze(0).repeat(2, 1)
    lengths = torch.tensor([87, 60])
    y = torch.randint(0, 21, (2, 87))
    _, em = m.encode(x, lengths)
    assert em.shape[-1] == 3 * 21 + 2 and torch.equal(em[..., -2:], stop_codon_tracks(x))
    h = m.head
    e, st, en = em[..., :21], em[..., 21:42], em[..., 42:63]
    orf = (em[..., -2:], h.orf_anchors, h.orf_weight)
    want = canonical_nll(e, h.transition, h.duration_bias, y, lengths, st, en, True, True, orf)
    assert torch.allclose(h.nll(em, y, lengths), want)
    without = canonical_nll(e, h.transition, h.duration_bias, y, lengths, st, en, True, True)
    assert (want - without).abs().min() > 1e-3
    h.nll(em, y, lengths).sum().backward()
    g = h.orf_weight.grad
    assert g[h.orf_anchors > 0].abs().sum() > 0 and g[h.orf_anchors == 0].abs().sum() == 0
    old = {k: v for k, v in cfg.items() if k != "orf_scores"}
    assert not SegmentationModel(old).orf_scores
    with pytest.raises(ValueError, match="ORF"):
        from genotool_gencode.crf.heads import SemiCRFHead
        SemiCRFHead(21, 1, long_runs="tail", orf_scores=True)
    assert json.dumps(cfg)        # still a plain JSON config
