"""A reproducible benchmark for retraining pruned networks (Le & Hua, ICLR 2021).

``benchmark/run.py`` is the Hydra entry point; ``benchmark.cell.run_cell`` runs one cell of
the comparison grid. Nothing is imported or configured at import time.
"""
