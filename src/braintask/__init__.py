"""braintask: train differentiable brain models on cognitive tasks.

The whole public API:

- datasets: :func:`delayed_match_task`, :func:`from_cogtask`, :class:`TaskDataset`,
  :func:`as_dataset`
- fresh trials every epoch: :class:`TrialSource`, :func:`delayed_match_source`,
  :func:`cogtask_source`
- training: :class:`Trainer`, :class:`MultiSeedTrainer`, :class:`History`
- callbacks: :class:`Callback`, :class:`EarlyStopping`, :class:`StopAt`,
  :class:`Criterion`, :class:`Checkpoint`, :class:`LearningRateScheduler`,
  :class:`CSVLogger`, :class:`JSONLinesLogger`, :class:`BraintoolsLogger`; :func:`default_mode`
  (which direction is better)
- losses and metrics: :func:`cross_entropy`, :func:`masked_cross_entropy`, :func:`accuracy`;
  for continuous targets :func:`masked_mean_squared_error`, :func:`angular_error`;
  trials scored as the field scores them: :func:`trial_performance`
- regularisers: :class:`RatePenalty`, :class:`WeightPenalty`, or any :class:`Penalty`
  (given a :class:`PenaltyInputs`)
- models: :class:`RecurrentClassifier`, :class:`LeakyRNNCell` (the field's leaky rate
  network, with Dale's law), :class:`NodeNetwork`, :class:`SpikingNetwork`,
  :func:`count_parameters`;
  a dry run before training: :func:`check_model` (:class:`ModelCheck`)
- hidden states: :func:`batch_hidden_states`
- compiled programs kept on disk between runs: :func:`compilation_cache` (on by default)
- errors and warnings: :class:`TrainingDiverged`, :class:`CheckpointError`,
  :class:`ZeroGradientWarning`
- weights alone, for inference: :func:`save_weights`, :func:`load_weights`
- intervals over seeds: :func:`mean_interval`, :func:`interval_table`
- analysis: :func:`trajectories` (:class:`Trajectories`), :func:`pca_projection`
  (:class:`PCAProjection`), :func:`decode_over_time` (:class:`Decoding`),
  :func:`cross_temporal_decoding`, :func:`find_fixed_points` (:class:`FixedPoints`),
  :func:`step_function` (:class:`OneStep`), :func:`psychometric` (:class:`Psychometric`),
  :func:`decision_times`, :func:`ablate_units` (:class:`Ablation`)
- recorded studies: :class:`Study` (resumable, re-checkable), :func:`provenance`,
  :func:`hardware`, :func:`same_hardware`
"""

# One room per concern (private subpackages); this file is the whole public face.
from ._checks import default_mode
from ._errors import CheckpointError, TrainingDiverged, ZeroGradientWarning
from ._history import History
from ._objective.losses import (accuracy, angular_error, cross_entropy, masked_cross_entropy,
                      masked_mean_squared_error, trial_performance)
from ._objective.penalties import Penalty, PenaltyInputs, RatePenalty, WeightPenalty
from ._engine.cache import compilation_cache, setup_default_cache
# trials
from ._data.cogtask import from_cogtask
from ._data.convert import as_dataset
from ._data.dataset import TaskDataset
from ._data.delayed_match import delayed_match_task
from ._data.sources import TrialSource, cogtask_source, delayed_match_source
# compiled programs
from ._engine.states import batch_hidden_states
# models
from ._models.nodes import NodeNetwork
from ._models.rate import LeakyRNNCell
from ._models.recurrent import RecurrentClassifier, count_parameters
from ._models.spiking import SpikingNetwork
# training
from ._training.dry_run import ModelCheck, check_model
from ._training.multiseed import MultiSeedTrainer
from ._training.trainer import Trainer
# callbacks
from ._callbacks.base import Callback
from ._callbacks.checkpoint import Checkpoint
from ._callbacks.criterion import Criterion
from ._callbacks.loggers import BraintoolsLogger, CSVLogger, JSONLinesLogger
from ._callbacks.schedule import LearningRateScheduler
from ._callbacks.stopping import EarlyStopping, StopAt
# saving
from ._checkpoint.weights import load_weights, save_weights
# analysis
from ._analysis.ablation import Ablation, ablate_units
from ._analysis.decoding import Decoding, cross_temporal_decoding, decode_over_time
from ._analysis.fixedpoints import FixedPoints, find_fixed_points
from ._analysis.onestep import OneStep, step_function
from ._analysis.psychometric import Psychometric, decision_times, psychometric
from ._analysis.stats import interval_table, mean_interval
from ._analysis.trajectories import PCAProjection, Trajectories, pca_projection, trajectories
# recorded studies
from ._study.provenance import hardware, provenance, same_hardware
from ._study.study import Study

__version__ = "0.1.0"

__all__ = [
    "delayed_match_task",
    "from_cogtask",
    "TaskDataset",
    "as_dataset",
    "TrialSource",
    "delayed_match_source",
    "cogtask_source",
    "Trainer",
    "MultiSeedTrainer",
    "History",
    "Callback",
    "EarlyStopping",
    "StopAt",
    "Criterion",
    "Checkpoint",
    "LearningRateScheduler",
    "CSVLogger",
    "JSONLinesLogger",
    "BraintoolsLogger",
    "default_mode",
    "cross_entropy",
    "masked_cross_entropy",
    "accuracy",
    "masked_mean_squared_error",
    "angular_error",
    "trial_performance",
    "RatePenalty",
    "WeightPenalty",
    "Penalty",
    "PenaltyInputs",
    "RecurrentClassifier",
    "LeakyRNNCell",
    "NodeNetwork",
    "SpikingNetwork",
    "count_parameters",
    "check_model",
    "ModelCheck",
    "batch_hidden_states",
    "compilation_cache",
    "TrainingDiverged",
    "CheckpointError",
    "ZeroGradientWarning",
    "save_weights",
    "load_weights",
    "mean_interval",
    "interval_table",
    "trajectories",
    "Trajectories",
    "pca_projection",
    "PCAProjection",
    "decode_over_time",
    "Decoding",
    "cross_temporal_decoding",
    "find_fixed_points",
    "FixedPoints",
    "step_function",
    "OneStep",
    "psychometric",
    "Psychometric",
    "decision_times",
    "ablate_units",
    "Ablation",
    "Study",
    "provenance",
    "hardware",
    "same_hardware",
]

# JAX's persistent compilation cache, in the user's cache folder unless JAX has one
# already or BRAINTASK_COMPILATION_CACHE=0 (see braintask._engine.cache)
setup_default_cache()
