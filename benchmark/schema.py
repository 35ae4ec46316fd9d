"""The whole cell's config, composed of every group's schema and registered in Hydra's ConfigStore.

Each group's schema lives with its code (``benchmark/data/schema.py``, ``models/``, ``pruning/``,
``retraining/``, ``lm/``; W&B's in ``benchmark/tracking.py``), built from the ranges and group bases
of :mod:`benchmark.fields`. Each YAML option under ``conf/<group>/`` extends one of these schemas
through its defaults list, so a value of the wrong type (``budget.epochs=abc``) fails when Hydra
composes the config, before any data is touched or any model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from benchmark.data.schema import DatasetConf, ImageFolderDatasetConf, SyntheticDatasetConf
from benchmark.fields import POSITIVE, SEED, DatasetGroup, ModelGroup, PrunerGroup, ranged
from benchmark.lm.schema import CausalLMConf, LMPrunerConf, RetrainConf, TextDatasetConf
from benchmark.models.schema import CustomModelConf, MobileNetV2Conf, ModelConf, ViTConf
from benchmark.progress import MODES as PROGRESS_MODES
from benchmark.pruning.schema import (CheckpointPrunerConf, CustomPrunerConf, GradualPrunerConf, LatencyConf,
                                      NMPrunerConf, PrunerConf, TorchPruningConf, WeightPrunerConf)
from benchmark.retraining.schema import (BudgetAwareScheduleConf, BudgetConf, CLRScheduleConf, ConvergenceConf,
                                         DistillConf, FTScheduleConf, LRWScheduleConf, RecipeConf, ScheduleConf,
                                         ScratchScheduleConf, SLRScheduleConf, StepScheduleConf, WRScheduleConf)
from benchmark.tracking import WandbConf


@dataclass
class SeedConf:
    """Separate seeds per stage, so retraining can be repeated on one baseline."""

    baseline: int = ranged(0, **SEED)  # model initialisation and baseline data order
    prune: int = ranged(0, **SEED)  # random pruners' choices
    retrain: int = ranged(0, **SEED)  # retraining data order and augmentation


@dataclass
class PlanConf:
    format: str = ranged("text", choices=("text", "json"))
    # Training img/s of one GPU for the GPU-hours estimate; null: the assumed per-model table in
    # benchmark/tasks/image_cost.py (no GPU has been measured for this suite). Not part of any identity.
    gpu_images_per_s: Optional[float] = ranged(None, **POSITIVE)
    # Language models: GPU-hours are estimated as FLOPs / (gpu_tflops x mfu); an estimate, not a measurement.
    gpu_tflops: float = ranged(312.0, **POSITIVE)  # peak dense TFLOP/s of one GPU (A100 bf16: 312)
    mfu: float = ranged(0.4, low=0, high=1, low_open=True)  # model FLOPs utilisation assumed


@dataclass
class PathsConf:
    cache: str = "cache"  # baselines, pruned models and cells, stored by identity


@dataclass
class BenchmarkConf:
    """The whole cell: one point of the comparison grid."""

    dataset: DatasetGroup = MISSING  # DatasetConf and its image kinds | TextDatasetConf
    model: ModelGroup = MISSING  # ModelConf and its kinds | CausalLMConf
    recipe: RecipeConf = MISSING
    pruner: PrunerGroup = MISSING  # PrunerConf and its kinds | LMPrunerConf
    schedule: ScheduleConf = MISSING
    budget: BudgetConf = MISSING
    distill: DistillConf = field(default_factory=DistillConf)
    bn_recalibration: Optional[float] = ranged(None, low=0, high=1, low_open=True)  # fraction of the training set re-estimating BatchNorm statistics after pruning
    rewind_epochs: List[int] = field(default_factory=list)  # baseline epochs whose weights it keeps for schedule=wr (not identity)
    seed: SeedConf = field(default_factory=SeedConf)
    retrain: RetrainConf = field(default_factory=RetrainConf)  # language models: all | biases_norms | lora
    wandb: WandbConf = field(default_factory=WandbConf)
    plan: PlanConf = field(default_factory=PlanConf)
    paths: PathsConf = field(default_factory=PathsConf)
    latency: LatencyConf = field(default_factory=LatencyConf)
    convergence: ConvergenceConf = field(default_factory=ConvergenceConf)
    mode: str = ranged("run", choices=("run", "plan"))
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    deterministic: bool = True  # deterministic kernels where the backend offers them
    fast: bool = True  # speed path (benchmark.fastpath): bf16 autocast where native (precision=auto), CUDA channels_last; torch.compile on both
    precision: str = ranged("auto", choices=("auto", "fp32", "bf16"))  # auto: bf16 under fast on CUDA or a CPU with native bf16, else fp32
    compile_min_steps: int = ranged(2000, low=-1)  # fast path: compile a stage's training step when it runs this many steps (-1: never)
    progress: str = ranged("auto", choices=PROGRESS_MODES)  # auto (bars on a terminal, log lines otherwise) | bar | log | off



def register_configs() -> None:
    """Store every schema; called by the entry point, never at import time. (The launchers' schemas
    and the ``dirname`` resolver of sweep folders are Hydra's side: hydra_plugins/benchmark_launchers.)"""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=BenchmarkConf)
    cs.store(group="dataset", name="base_dataset", node=DatasetConf)
    cs.store(group="dataset", name="base_synthetic", node=SyntheticDatasetConf)
    cs.store(group="dataset", name="base_imagefolder", node=ImageFolderDatasetConf)
    cs.store(group="dataset", name="base_text", node=TextDatasetConf)
    cs.store(group="model", name="base_model", node=ModelConf)
    cs.store(group="model", name="base_custom", node=CustomModelConf)
    cs.store(group="model", name="base_mobilenetv2", node=MobileNetV2Conf)
    cs.store(group="model", name="base_vit", node=ViTConf)
    cs.store(group="model", name="base_causal_lm", node=CausalLMConf)
    cs.store(group="recipe", name="base_recipe", node=RecipeConf)
    cs.store(group="pruner", name="base_pruner", node=PrunerConf)
    cs.store(group="pruner", name="base_weight", node=WeightPrunerConf)
    cs.store(group="pruner", name="base_agp", node=GradualPrunerConf)
    cs.store(group="pruner", name="base_nm", node=NMPrunerConf)
    cs.store(group="pruner", name="base_torch_pruning", node=TorchPruningConf)
    cs.store(group="pruner", name="base_custom", node=CustomPrunerConf)
    cs.store(group="pruner", name="base_checkpoint", node=CheckpointPrunerConf)
    cs.store(group="pruner", name="base_lm", node=LMPrunerConf)
    cs.store(group="schedule", name="base_ft", node=FTScheduleConf)
    cs.store(group="schedule", name="base_lrw", node=LRWScheduleConf)
    cs.store(group="schedule", name="base_slr", node=SLRScheduleConf)
    cs.store(group="schedule", name="base_clr", node=CLRScheduleConf)
    cs.store(group="schedule", name="base_step", node=StepScheduleConf)
    cs.store(group="schedule", name="base_budget_aware", node=BudgetAwareScheduleConf)
    cs.store(group="schedule", name="base_wr", node=WRScheduleConf)
    cs.store(group="schedule", name="base_scratch", node=ScratchScheduleConf)
    cs.store(group="budget", name="base_budget", node=BudgetConf)
    cs.store(group="seed", name="base_seed", node=SeedConf)
    cs.store(group="distill", name="base_distill", node=DistillConf)
