"""The SpliceAI residual dilated CNN in plain torch (Jaganathan et al. 2019; OpenSpliceAI layout).

Parameter names follow the OpenSpliceAI state dicts so their weights load strictly:
``initial_conv`` (1x1, 4 -> C), ``initial_skip.conv`` (1x1), ``residual_units`` (a list in
which every 4th residual unit is followed by a ``Skip``), ``final_conv`` (1x1, C -> 3).
A residual unit is (BatchNorm -> LeakyReLU(0.1) -> dilated Conv1d) twice plus the identity.
The skip sum is cropped by the context (flank) on both sides and projected to 3 channels in
the order (neither, acceptor, donor).

Input (N, 4, S + flank) one-hot A, C, G, T (N = all zeros); output logits (N, 3, S).

On CPU the forward pass runs every convolution as a 2-D one over (N, C, 1, L) tensors in
``channels_last`` memory (the parameters stay the Conv1d ones, so state dicts are unchanged):
oneDNN then uses its direct kernels, ~1.4x the speed of ``Conv1d`` for a training step of the
400 nt net (forward and backward) here; scoring uses the frozen ``InferenceNet``.
"""

from __future__ import annotations

import torch
from torch import nn

# flank -> (kernel widths W, dilations AR): SpliceAI-80nt/400nt/2k/10k
ARCHITECTURES: dict[int, tuple[list[int], list[int]]] = {
    80: ([11] * 4, [1] * 4),
    400: ([11] * 8, [1] * 4 + [4] * 4),
    2000: ([11] * 8 + [21] * 4, [1] * 4 + [4] * 4 + [10] * 4),
    10000: ([11] * 8 + [21] * 4 + [41] * 4, [1] * 4 + [4] * 4 + [10] * 4 + [25] * 4),
}
CHANNELS = ("neither", "acceptor", "donor")
NEITHER, ACCEPTOR, DONOR = 0, 1, 2


def conv(m: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``m`` applied to x (N, C, L), or as a 2-D convolution to x (N, C, 1, L) (channels_last)."""
    if x.dim() == 3:
        return m(x)
    return nn.functional.conv2d(x, m.weight.unsqueeze(2), m.bias, dilation=(1, m.dilation[0]),
                                padding=(0, m.padding[0]))


def batchnorm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """``bn`` on (N, C, L) or (N, C, 1, L) (training statistics updated as the module does)."""
    if x.dim() == 3:
        return bn(x)
    if bn.training:
        bn.num_batches_tracked.add_(1)
    return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.training,
                                    bn.momentum, bn.eps)


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, width: int, dilation: int):
        super().__init__()
        pad = (width - 1) * dilation // 2
        self.batchnorm1 = nn.BatchNorm1d(channels)
        self.batchnorm2 = nn.BatchNorm1d(channels)
        self.conv1 = nn.Conv1d(channels, channels, width, dilation=dilation, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, width, dilation=dilation, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = conv(self.conv1, nn.functional.leaky_relu(batchnorm(self.batchnorm1, x), 0.1))
        out = conv(self.conv2, nn.functional.leaky_relu(batchnorm(self.batchnorm2, out), 0.1))
        return x + out


class Skip(nn.Module):
    """1x1 projection of the trunk added to the running skip sum."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1)


class SpliceAINet(nn.Module):
    def __init__(self, flank: int = 400, channels: int = 32, widths=None, dilations=None):
        super().__init__()
        if widths is None or dilations is None:
            if flank not in ARCHITECTURES:
                raise ValueError(f"flank {flank} has no SpliceAI architecture")
            widths, dilations = ARCHITECTURES[flank]
        self.widths, self.dilations = list(widths), list(dilations)
        self.context = 2 * sum(d * (w - 1) for w, d in zip(self.widths, self.dilations))
        self.flank = flank
        self.channels = channels
        self.initial_conv = nn.Conv1d(4, channels, 1)
        self.initial_skip = Skip(channels)
        self.residual_units = nn.ModuleList()
        for i, (w, d) in enumerate(zip(self.widths, self.dilations)):
            self.residual_units.append(ResidualUnit(channels, w, d))
            if (i + 1) % 4 == 0:
                self.residual_units.append(Skip(channels))
        self.final_conv = nn.Conv1d(channels, 3, 1)
        self.cpu_channels_last = True     # False: plain nn.Conv1d on CPU too (bench's reference point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 4, S + context) -> logits (N, 3, S)."""
        flat = x.device.type != "cpu" or not self.cpu_channels_last
        if not flat:
            x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)    # (N, 4, 1, L)
        x = conv(self.initial_conv, x)
        skip = conv(self.initial_skip.conv, x)
        for unit in self.residual_units:
            if isinstance(unit, Skip):
                skip = skip + conv(unit.conv, x)
            else:
                x = unit(x)
        half = self.context // 2
        if half:
            skip = skip[..., half:-half]
        out = conv(self.final_conv, skip)
        return out if flat else out.squeeze(2)


def net_config(net: SpliceAINet) -> dict:
    return {"flank": net.flank, "channels": net.channels, "widths": net.widths, "dilations": net.dilations}


def build_net(config: dict) -> SpliceAINet:
    return SpliceAINet(flank=int(config["flank"]), channels=int(config["channels"]),
                       widths=config.get("widths"), dilations=config.get("dilations"))
