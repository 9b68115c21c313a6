"""Typer option types shared by every plugin, so every verb spells them the same way.

Use them as annotations::

    from genotool.options import Output, Device, Precision, BatchSize, Seed, Force

    @app.command()
    def train(data: Annotated[Path, typer.Option(...)], output: Output, device: Device = None, ...):
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Output = Annotated[Path, typer.Option("--output", "-o", help="Output folder (or file where the verb writes one file).")]
OptionalOutput = Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the result to this file.")]
Device = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:N or mps; default: the probe's choice.")]
Precision = Annotated[Optional[str], typer.Option("--precision", help="fp32, bf16-mixed or fp16-mixed; default: the probe's choice.")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", help="Override the probe's batch size.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
Workers = Annotated[Optional[int], typer.Option("--num-workers", help="Data-loader workers (default: from the probe).")]
