"""Training: data sets, objectives, the training loop and its configuration.

See :mod:`studio.core.training.trainer` for the loop's API (events, pause/cancel, checkpoints).
"""
from .config import ConfigError, TrainConfig
from .data import DATASETS, Data
from .trainer import (TrainControl, TrainEvent, TrainFinished, Trainer, TrainPreview,
                      TrainProgress)

__all__ = ["TrainConfig", "ConfigError", "DATASETS", "Data", "Trainer", "TrainControl",
           "TrainEvent", "TrainProgress", "TrainPreview", "TrainFinished"]
