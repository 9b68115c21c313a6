"""The SpliceAI CNN: OpenSpliceAI 80 nt scores against the reference fixture; strict loading errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genotool.errors import UserError
from genotool_splice.base import BaseScorer, BaseSpec, encode, load_base, load_openspliceai, reverse_complement
from genotool_splice.spliceai_net import SpliceAINet

FIXTURE = Path(__file__).parent / "fixtures" / "openspliceai_80nt_rs10_reference.json"


def test_openspliceai_80nt_matches_reference_fixture(openspliceai_weights):
    wd = openspliceai_weights
    if wd is None:
        pytest.skip("OpenSpliceAI MANE weights not found ($GENOTOOL_SPLICE_WEIGHTS or ../shared/data)")
    fx = json.loads(FIXTURE.read_text())
    scorer = load_base(BaseSpec("openspliceai", str(wd), 80, 1))
    got = scorer.score(encode(fx["sequence"]))[40:-40].T            # reference covers positions 40..L-41
    ref = np.asarray(fx["scores"])
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-5
    # the planted exon: acceptor on its first base, donor on its last (exon side)
    assert int(ref[1].argmax()) + 40 == 120 and int(ref[2].argmax()) + 40 == 140


def test_block_scoring_equals_one_pass():
    torch.manual_seed(0)
    net = SpliceAINet(80, channels=8).eval()
    codes = np.random.default_rng(0).integers(0, 5, 2345).astype(np.uint8)
    blocks = BaseScorer([net], BaseSpec(flank=80), block=500, batch_size=3).score(codes)
    whole = BaseScorer([net], BaseSpec(flank=80), block=5000).score(codes)
    assert np.allclose(blocks, whole, atol=1e-6)
    assert np.allclose(blocks.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(reverse_complement(encode("ACGTN")), encode("NACGT"))


def test_weights_folder_without_files(tmp_path):
    with pytest.raises(UserError, match=r"has 0 file\(s\) model_400nt_rs\*\.pt"):
        load_openspliceai(tmp_path, 400, 1)


def test_wrong_architecture_names_the_key(tmp_path):
    torch.save(SpliceAINet(80).state_dict(), tmp_path / "model_400nt_rs10.pt")
    with pytest.raises(UserError, match=r"missing key 'residual_units\.5\.batchnorm1\.weight'"):
        load_openspliceai(tmp_path, 400, 1)
    sd = SpliceAINet(80).state_dict()
    sd["final_conv.weight"] = torch.zeros(3, 16, 1)
    torch.save(sd, tmp_path / "model_80nt_rs10.pt")
    with pytest.raises(UserError, match=r"key 'final_conv\.weight' has shape \(3, 16, 1\)"):
        load_openspliceai(tmp_path, 80, 1)


@pytest.mark.parametrize("flank", [80, 400, 2000, 10000])
def test_inference_net_equals_forward(flank):
    """The scoring copy (channels-last 2-D convs, BN2 folded into conv1) gives the net's own logits."""
    from genotool_splice.inference_net import InferenceNet

    torch.manual_seed(flank)
    net = SpliceAINet(flank, channels=8)
    for m in net.modules():                      # non-trivial BatchNorm statistics, so folding is tested
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    codes = np.random.default_rng(flank).integers(0, 5, (2, 300 + net.context))
    x = torch.from_numpy(np.vstack([np.eye(4), np.zeros((1, 4))])[codes].astype(np.float32))   # (2, W, 4)
    with torch.inference_mode():
        want = net(x.permute(0, 2, 1).contiguous())                       # (2, 3, 300)
        got = InferenceNet(net)(x.permute(0, 2, 1).unsqueeze(2)).squeeze(2)
    assert got.shape == want.shape == (2, 3, 300)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_channels_last_training_path_equals_conv1d():
    """SpliceAINet's CPU path (2-D channels-last convolutions) = the nn.Conv1d modules: outputs,
    gradients and BatchNorm running statistics."""
    torch.manual_seed(3)
    a = SpliceAINet(80, channels=8)
    b = SpliceAINet(80, channels=8)
    b.load_state_dict(a.state_dict())
    b.cpu_channels_last = False
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 380)), 4).float().permute(0, 2, 1).contiguous()
    y = torch.randint(0, 3, (3, 300))
    for net in (a, b):
        net.train()
        torch.nn.functional.cross_entropy(net(x), y).backward()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-4), name
    for (name, s), t in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(s.float(), t.float(), atol=1e-6), name
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5)
