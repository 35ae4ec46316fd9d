"""submitit launchers that can pack several cells into one job: ``hydra.launcher.cells_per_job``.

Hydra instantiates launchers only from the ``hydra_plugins`` namespace package, which is why
this module lives here and not in ``benchmark/``. With ``cells_per_job: 1`` (the default) the
launchers are exactly hydra-submitit-launcher's. With ``cells_per_job: K`` the sweep's cells,
in sweep order, are grouped K to a job, so ``schedule=ft,lrw,slr,clr cells_per_job=4`` puts the
four schedules of one pruned model on one GPU; inside the job each cell runs in a process of
its own (``benchmark.launch.packing``), and each still gets its own output folder and record.

The packs ride on the plugin's own ``launch``: it submits one job per pack (named by the pack's
first cell) and this launcher's ``__call__`` runs the whole pack inside that job. On preemption
the job is requeued as usual and every cell of the pack resumes from its checkpoint.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Dict, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    BaseSubmititLauncher,
    LocalLauncher,
    SlurmLauncher,
)

log = logging.getLogger(__name__)


def _failed(error: BaseException, overrides: List[str]) -> JobReturn:
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
    ret._return_value = error
    return ret


class _Packing:
    """Mixed into a submitit launcher: groups cells into packs and runs a pack per job."""

    def __init__(self, cells_per_job: int = 1, **params: Any) -> None:
        if int(cells_per_job) < 1:
            raise ValueError(f"hydra.launcher.cells_per_job={cells_per_job} must be >= 1")
        super().__init__(**params)  # type: ignore[call-arg]
        self.cells_per_job = int(cells_per_job)
        self.packs: List[List[tuple]] = []

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        size = self.cells_per_job
        if size == 1 or len(job_overrides) == 1:
            self.packs = []
            return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
        state = Singleton.get_state()
        cells = [(list(o), "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{initial_job_idx + i}", state)
                 for i, o in enumerate(job_overrides)]
        self.packs = [cells[i : i + size] for i in range(0, len(cells), size)]
        log.info(f"Packing {len(cells)} cells into {len(self.packs)} jobs of up to {size} cells each")
        for number, pack in enumerate(self.packs):
            log.info(f"\tjob {number}: " + " | ".join(f"#{c[2]} " + " ".join(filter_overrides(c[0])) for c in pack))
        try:
            per_pack = super().launch([pack[0][0] for pack in self.packs], 0)  # type: ignore[misc]
        finally:
            self.packs = []
        return [ret for pack in per_pack for ret in pack]

    def __call__(self, sweep_overrides: List[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: Dict[type, Singleton]) -> Any:
        if not self.packs:
            return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)  # type: ignore
        from benchmark.launch.packing import run_concurrently

        pack = self.packs[job_num]
        outcomes = run_concurrently([functools.partial(self.run_cell, *cell) for cell in pack])
        return [o if isinstance(o, JobReturn) else _failed(o, cell[0]) for o, cell in zip(outcomes, pack)]

    def run_cell(self, *cell: Any) -> JobReturn:
        """One cell of a pack, in its own process: the plugin's single-cell job."""
        return BaseSubmititLauncher.__call__(self, *cell)  # type: ignore[arg-type]


class PackedLocalLauncher(_Packing, LocalLauncher):
    pass


class PackedSlurmLauncher(_Packing, SlurmLauncher):
    pass
