"""The engine: forward processes, networks, guidance, schedules, solvers, the runner, pipelines.

Torch and numpy only; never Qt (a test enforces it).
"""
from .errors import Cancelled, NonFiniteError, ParamError, PipelineError, StudioError
from .model import Denoiser, Prediction
from .pipeline import Built, Pipeline, build_solver, load
from .registry import GUIDANCE, NETWORKS, PROCESSES, SCHEDULES, SOLVERS
from .runner import CancelToken, RunResult, SamplingRun, StepEvent

__all__ = ["Cancelled", "NonFiniteError", "ParamError", "PipelineError", "StudioError", "Denoiser",
           "Prediction", "Built", "Pipeline", "build_solver", "load", "GUIDANCE", "NETWORKS",
           "PROCESSES", "SCHEDULES", "SOLVERS", "CancelToken", "RunResult", "SamplingRun",
           "StepEvent"]
