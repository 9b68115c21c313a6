"""Base splice models: OpenSpliceAI state dicts (read from a user path) or an ``own`` model
written by ``splice train-base``; scoring of long sequences in blocks, both strands.

Scores are softmax probabilities with channels (neither, acceptor, donor), averaged over the
loaded models (1-5 OpenSpliceAI seeds). A sequence is held as uint8 codes 0..3 = A, C, G, T,
4 = N (one-hot all zeros, as the reference scorer pads).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from genotool.errors import UserError
from genotool_splice.spliceai_net import ARCHITECTURES, SpliceAINet, build_net, net_config

BASE_KINDS = ("openspliceai", "own")
OWN_NAME = "base_model"           # <train-base output>/base_model.pt
CODE = np.full(256, 4, dtype=np.uint8)
for _i, _c in enumerate(b"ACGT"):
    CODE[_c] = _i
    CODE[ord(chr(_c).lower())] = _i
RC_CODE = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
ONE_HOT = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])   # (5, 4)


@dataclass
class BaseSpec:
    """Which base model: ``kind`` openspliceai (weights = the MANE folder) or own (weights = a
    ``splice train-base`` output); ``flank`` and ``seeds`` only matter for openspliceai."""

    kind: str = "openspliceai"
    weights: str = ""
    flank: int = 400
    seeds: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def encode(seq: str | bytes) -> np.ndarray:
    """Sequence -> uint8 codes (L,), anything but ACGT (either case) -> 4 (N)."""
    b = seq.encode() if isinstance(seq, str) else seq
    return CODE[np.frombuffer(b, dtype=np.uint8)]


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return RC_CODE[codes[::-1]]


def _weight_files(folder: Path, flank: int) -> list[Path]:
    for d in (folder, folder / f"{flank}nt"):
        files = sorted(d.glob(f"model_{flank}nt_rs*.pt")) if d.is_dir() else []
        if files:
            return files
    return []


def flanks_in(folder: Path) -> list[int]:
    """Flanks of the OpenSpliceAI weight files in ``folder`` or its ``<flank>nt/`` subfolders."""
    found = {flank_of_weights_name(p.name) for d in (folder, *folder.glob("*nt")) if d.is_dir()
             for p in d.glob("model_*nt_rs*.pt")}
    return sorted(f for f in found if f in ARCHITECTURES)


def resolve_base(path, flank: int | None = None, seeds: int = 1, option: str = "--base-weights") -> BaseSpec:
    """The base model a folder holds: a ``splice train-base`` output (own, fine-tuned or from
    scratch) or OpenSpliceAI weight files (the flank found in the folder, or ``flank``)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{option}: {path} is not a folder")
    if (path / f"{OWN_NAME}.pt").is_file():
        return BaseSpec("own", str(path))
    flanks = flanks_in(path)
    if not flanks:
        raise UserError(f"{option}: {path} holds neither a `splice train-base` output ({OWN_NAME}.pt) nor "
                        f"OpenSpliceAI files model_<flank>nt_rs*.pt")
    if flank is None:
        if len(flanks) > 1:
            raise UserError(f"{option}: {path} holds OpenSpliceAI models of several flanks "
                            f"({', '.join(map(str, flanks))} nt): name one, e.g. {path / f'{flanks[0]}nt'}")
        flank = flanks[0]
    return BaseSpec("openspliceai", str(path), flank, seeds)


def check_state_dict(sd: dict, net: SpliceAINet, path: Path) -> None:
    """Strict key/shape comparison with one line naming the first missing, unexpected or mismatched key."""
    want = net.state_dict()
    if not isinstance(sd, dict):
        raise UserError(f"--base-weights: {path} is not a state dict ({type(sd).__name__})")
    for k, v in want.items():
        if k not in sd:
            raise UserError(f"--base-weights: {path}: missing key '{k}' (not a SpliceAI-{net.flank}nt state dict)")
        if tuple(sd[k].shape) != tuple(v.shape):
            raise UserError(f"--base-weights: {path}: key '{k}' has shape {tuple(sd[k].shape)}, the "
                            f"SpliceAI-{net.flank}nt architecture needs {tuple(v.shape)}")
    extra = [k for k in sd if k not in want]
    if extra:
        raise UserError(f"--base-weights: {path}: unexpected key '{extra[0]}' (not a SpliceAI-{net.flank}nt state dict)")


def _openspliceai_payload(path: Path, flank: int) -> dict:
    """An OpenSpliceAI state-dict file as a model_io payload (its ``legacy`` reader: foreign
    weights, read with ``weights_only`` and ``map_location`` as every model file is)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the user's file
        raise UserError(f"--base-weights: {path} cannot be read as a torch state dict ({type(exc).__name__})") from None
    net = SpliceAINet(flank)
    check_state_dict(sd, net, path)
    return {"config": {"kind": "openspliceai", "net": net_config(net)}, "state_dict": sd}


def load_openspliceai(folder: Path, flank: int, seeds: int) -> list[SpliceAINet]:
    """The first ``seeds`` OpenSpliceAI models of ``flank`` in ``folder``, each through model_io."""
    from genotool.engine.model_io import load_model

    folder = Path(folder)
    if flank not in ARCHITECTURES:
        raise UserError(f"--base-flank must be one of {', '.join(map(str, ARCHITECTURES))}, not {flank}")
    if not 1 <= seeds <= 5:
        raise UserError(f"--base-seeds must be 1..5, not {seeds}")
    if not folder.is_dir():
        raise UserError(f"--base-weights: {folder} is not a folder")
    files = _weight_files(folder, flank)
    if len(files) < seeds:
        raise UserError(f"--base-weights: {folder} has {len(files)} file(s) model_{flank}nt_rs*.pt "
                        f"(in it or in {flank}nt/), {seeds} needed")
    nets = []
    for f in files[:seeds]:
        net, _ = load_model(f, lambda cfg: build_net(cfg["net"]), plugin="splice", option="--base-weights",
                            legacy=lambda _dir, f=f: _openspliceai_payload(f, flank))
        nets.append(net)
    return nets


def load_own(folder: Path, option: str = "--base-weights") -> list[SpliceAINet]:
    from genotool.engine.model_io import load_model

    net, payload = load_model(folder, lambda cfg: build_net(cfg["net"]), plugin="splice", name=OWN_NAME,
                              option=option)
    if payload["config"].get("kind") != "base":
        raise UserError(f"{option}: {folder} is not a `splice train-base` output")
    return [net]


def load_base_nets(spec: BaseSpec, option: str = "--base-weights") -> list[SpliceAINet]:
    """The nets of a base spec (OpenSpliceAI seeds, or the one own/fine-tuned net)."""
    if spec.kind not in BASE_KINDS:
        raise UserError(f"--base-model must be one of {', '.join(BASE_KINDS)}, not '{spec.kind}'")
    if not spec.weights:
        raise UserError(f"{option}: a folder is required (OpenSpliceAI weights, or a `splice train-base` output)")
    if spec.kind == "openspliceai":
        return load_openspliceai(Path(spec.weights), spec.flank, spec.seeds)
    nets = load_own(Path(spec.weights), option)
    spec.flank, spec.seeds = nets[0].context, 1
    return nets


class BaseScorer:
    """Scores long sequences with one or more SpliceAI nets (ensemble mean of softmax).

    ``score(codes)`` -> (L, 3) float32: blocks of ``block`` positions plus ``flank`` context,
    batches of ``batch_size`` blocks, inference mode. ``block`` defaults to 5,000 (SpliceAI's) or
    twice the context when that is longer: a 10,000 nt model then computes 1.5 positions per
    scored one instead of 3 (2.2x faster; same scores to ~2e-7). The nets run as ``InferenceNet`` copies
    (channels-last 2-D convolutions, BatchNorm folded; ~2x the speed of ``SpliceAINet.forward``
    on CPU, same scores to ~1e-6); one-hot is built per batch straight into that layout, so
    memory is one batch, not the whole sequence.
    """

    def __init__(self, nets: list[SpliceAINet], spec: BaseSpec, device: str = "cpu", batch_size: int = 32,
                 block: int | None = None, dtype: torch.dtype | None = None):
        from genotool_splice.inference_net import InferenceNet

        self.nets = [InferenceNet(n.eval()).to(device) for n in nets]
        self.spec = spec
        self.flank = nets[0].context
        self.device = device
        self.batch_size = batch_size
        self.block = block or max(5000, 2 * self.flank)
        self.autocast = dtype

    def _probs(self, xb: torch.Tensor) -> torch.Tensor:
        """One-hot batch (B, W, 4) -> mean softmax (B, S, 3), S = W - flank."""
        x = xb.to(self.device).permute(0, 2, 1).unsqueeze(2)           # (B, 4, 1, W), channels_last memory
        p = None
        with torch.autocast(device_type=torch.device(self.device).type, dtype=self.autocast,
                            enabled=self.autocast is not None):
            for net in self.nets:
                q = torch.softmax(net(x).float().squeeze(2).permute(0, 2, 1), dim=-1)   # (B, S, 3)
                p = q if p is None else p.add_(q)
        return p.div_(len(self.nets)) if len(self.nets) > 1 else p

    def score(self, codes: np.ndarray) -> np.ndarray:
        n = len(codes)
        if n == 0:
            return np.zeros((0, 3), dtype=np.float32)
        block = min(self.block, n)
        nblocks = -(-n // block)
        half = self.flank // 2
        padded = np.full(nblocks * block + self.flank, 4, dtype=np.uint8)
        padded[half:half + n] = codes
        win = np.lib.stride_tricks.sliding_window_view(padded, block + self.flank)[::block]   # (nblocks, W) view
        out = np.empty((nblocks * block, 3), dtype=np.float32)
        out_t = torch.from_numpy(out)
        with torch.inference_mode():
            for i in range(0, nblocks, self.batch_size):
                xb = torch.from_numpy(ONE_HOT[win[i:i + self.batch_size]])         # (B, W, 4) float32
                p = self._probs(xb)
                out_t[i * block:(i + len(xb)) * block].copy_(p.reshape(-1, 3))
        return out[:n]

    def score_both(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(plus (L, 3) genomic orientation, minus (L, 3) in reverse-complement orientation)."""
        return self.score(codes), self.score(reverse_complement(codes))


def load_base(spec: BaseSpec, device: str = "cpu", batch_size: int = 32, precision: str = "fp32") -> "BaseScorer":
    nets = load_base_nets(spec)
    dtype = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}.get(precision)
    return BaseScorer(nets, spec, device=device, batch_size=batch_size, dtype=dtype)


def flank_of_weights_name(name: str) -> int | None:
    m = re.search(r"model_(\d+)nt_rs", name)
    return int(m.group(1)) if m else None
