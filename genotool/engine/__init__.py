"""genotool's shared PyTorch training engine (see docs/engine.md and docs/architecture.md).

Imports torch: import this package inside command bodies only, never at the module level of a
plugin's ``plugin.py``/``cli.py``.
"""

from genotool.engine.batchsize import find_batch_size, search_batch_size
from genotool.engine.checkpoint import load as load_checkpoint
from genotool.engine.checkpoint import load_model_weights, unwrap
from genotool.engine.config import TrainConfig
from genotool.engine.distributed import is_main_process
from genotool.engine.model_io import export_model, load_model, read_model
from genotool.engine.predict import predict_loop
from genotool.engine.runtime import (autocast_context, move_to_device, resolve_device,
                                     seed_everything)
from genotool.engine.task import Task
from genotool.engine.trainer import FitResult, Trainer

__all__ = [
    "FitResult", "Task", "TrainConfig", "Trainer", "autocast_context", "export_model", "load_model", "read_model", "find_batch_size", "is_main_process",
    "load_checkpoint", "load_model_weights", "move_to_device", "predict_loop", "resolve_device",
    "search_batch_size", "seed_everything", "unwrap",
]
