"""The retraining axis: everything that decides how a pruned network is retrained.

``schedules`` (every learning-rate schedule, derived from the recipe: the single definition),
``optimizers`` (the recipe's optimizer), ``derivation`` (plan mode's words for that derivation),
``rewinding`` (weight rewinding and recorded-rate rewinding), ``distill`` (knowledge
distillation), ``recalibration`` (BN statistics) and ``convergence`` (whether the dense
baseline that retraining starts from had finished training: the verdict every record carries). It sits below the engine (``cell``,
``stages``, ``train``) and imports nothing from it, as ``pruning/`` does.
"""
