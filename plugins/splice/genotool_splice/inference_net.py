"""A frozen, CPU-fast copy of a trained ``SpliceAINet`` for scoring (same numbers to ~1e-6).

Why it exists: ``nn.Conv1d`` on (N, C, L) tensors reaches oneDNN as a plain-layout convolution,
which oneDNN runs as im2col + GEMM (``gemm:jit``, ~35 GFLOP/s on one core here). The same
convolution as a 2-D one over (N, C, 1, L) tensors in ``channels_last`` memory (i.e. (N, L, C)
in memory) runs oneDNN's direct brgemm kernel (``brg_conv_fwd:avx2``, ~80 GFLOP/s): the whole
net scores ~1.9x faster at one thread. Also, at load time:

* BatchNorm2 of each residual unit follows conv1 directly (conv1 -> BN2 is affine), so it is
  folded into conv1's weights and bias;
* BatchNorm1 (after the residual sum, before the LeakyReLU) becomes a per-channel
  ``addcmul(shift, x, scale)``; the LeakyReLUs run in place.

Input (N, 4, 1, S + context) one-hot in ``channels_last`` memory (a (N, S + context, 4) array
permuted); output logits (N, 3, 1, S), ``channels_last`` (memory (N, S, 3)).
Only for inference: no gradients, BatchNorm statistics frozen at their running values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genotool_splice.spliceai_net import ResidualUnit, Skip, SpliceAINet

CL = torch.channels_last


def _w2d(weight: torch.Tensor) -> torch.Tensor:
    """Conv1d weight (O, I, K) -> Conv2d weight (O, I, 1, K) in channels_last memory."""
    return weight.detach().unsqueeze(2).contiguous(memory_format=CL)


def _bn_affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as y = x * scale + shift, both (C,)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var.detach() + bn.eps)
    return scale, bn.bias.detach() - bn.running_mean.detach() * scale


class _Unit(nn.Module):
    """One residual unit: x + conv2(lrelu(conv1'(lrelu(bn1(x))))), conv1' = BN2 o conv1."""

    def __init__(self, unit: ResidualUnit):
        super().__init__()
        s1, t1 = _bn_affine(unit.batchnorm1)
        s2, t2 = _bn_affine(unit.batchnorm2)
        self.register_buffer("scale1", s1.view(1, -1, 1, 1))
        self.register_buffer("shift1", t1.view(1, -1, 1, 1))
        self.register_buffer("w1", _w2d(unit.conv1.weight.detach() * s2[:, None, None]))
        self.register_buffer("b1", unit.conv1.bias.detach() * s2 + t2)
        self.register_buffer("w2", _w2d(unit.conv2.weight))
        self.register_buffer("b2", unit.conv2.bias.detach().clone())
        self.dilation = (1, unit.conv1.dilation[0])
        self.padding = (0, unit.conv1.padding[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu_(torch.addcmul(self.shift1, x, self.scale1), 0.1)
        out = F.leaky_relu_(F.conv2d(out, self.w1, self.b1, dilation=self.dilation, padding=self.padding), 0.1)
        # in place on the fresh conv output (x + y == y + x exactly): one 22 MB tensor less per unit at batch 32
        return F.conv2d(out, self.w2, self.b2, dilation=self.dilation, padding=self.padding).add_(x)


class InferenceNet(nn.Module):
    """Frozen scoring copy of a ``SpliceAINet`` (see the module docstring for why and how)."""

    def __init__(self, net: SpliceAINet):
        super().__init__()
        self.context = net.context
        self.flank = net.flank
        self.register_buffer("w0", _w2d(net.initial_conv.weight))
        self.register_buffer("b0", net.initial_conv.bias.detach().clone())
        self.register_buffer("ws", _w2d(net.initial_skip.conv.weight))
        self.register_buffer("bs", net.initial_skip.conv.bias.detach().clone())
        self.units = nn.ModuleList()
        self.skip_after: list[int] = []           # unit indices after which a skip projection is added
        skips = []
        for m in net.residual_units:
            if isinstance(m, Skip):
                self.skip_after.append(len(self.units) - 1)
                skips += [_w2d(m.conv.weight), m.conv.bias.detach().clone()]
            else:
                self.units.append(_Unit(m))
        for i, t in enumerate(skips):
            self.register_buffer(f"skip{i}", t)
        self.register_buffer("wf", _w2d(net.final_conv.weight))
        self.register_buffer("bf", net.final_conv.bias.detach().clone())
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 4, 1, S + context) channels_last -> logits (N, 3, 1, S) channels_last."""
        x = F.conv2d(x, self.w0, self.b0)
        skip = F.conv2d(x, self.ws, self.bs)
        k = 0
        for i, unit in enumerate(self.units):
            x = unit(x)
            if k < len(self.skip_after) and self.skip_after[k] == i:
                skip.add_(F.conv2d(x, getattr(self, f"skip{2 * k}"), getattr(self, f"skip{2 * k + 1}")))
                k += 1
        half = self.context // 2
        if half:
            skip = skip[..., half:-half]
        return F.conv2d(skip, self.wf, self.bf)
