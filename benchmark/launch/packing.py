"""Several cells in one job: concurrent processes sharing the job's GPUs and CPU cores.

Small CIFAR models leave most of a modern GPU idle, so one job may train several cells at
once (``hydra.launcher.cells_per_job``, see ``hydra_plugins/benchmark_launchers``): the four
schedules of one pruned model, for instance, which then also share its cached baseline and
pruned weights. Each cell runs in a process of its own (spawned, so CUDA starts clean), pinned
to its share of the job's CPU cores (the cell's thread count follows from its affinity, see
``benchmark.device.configure_backend``) and, when the job sees several GPUs, to one of them
in turn. A cell's result does not depend on how it was packed: packing changes where a cell
runs, never what it computes.

This module only knows how to run callables side by side; ``make bench`` uses it to measure
what packing gains (cells per device-hour), and the packing launchers use it to run cells.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence


@dataclass(frozen=True)
class Placement:
    """Where one of the packed processes runs: CPU cores, and a GPU (None: as the job sees them)."""

    cpus: tuple
    gpu: Optional[str] = None


class PackedProcessDied(RuntimeError):
    """A packed process ended without a result (killed, out of memory, ``sys.exit``)."""


def placements(count: int, cpus: Sequence[int], gpus: Sequence[str] = ()) -> List[Placement]:
    """Split ``cpus`` into ``count`` contiguous, near-equal shares (processes share cores round-robin
    when there are fewer cores than processes) and hand out ``gpus`` round-robin."""
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    cpus = sorted(cpus)
    if len(cpus) >= count:
        base, extra = divmod(len(cpus), count)
        bounds = [i * base + min(i, extra) for i in range(count + 1)]
        shares = [tuple(cpus[bounds[i] : bounds[i + 1]]) for i in range(count)]
    else:
        shares = [(cpus[i % len(cpus)],) for i in range(count)]
    return [Placement(shares[i], gpus[i % len(gpus)] if gpus else None) for i in range(count)]


def visible_gpus(environ: Optional[Dict[str, str]] = None) -> List[str]:
    """The GPUs this job was given, as CUDA_VISIBLE_DEVICES lists them (empty: not restricted)."""
    value = (environ if environ is not None else os.environ).get("CUDA_VISIBLE_DEVICES", "")
    return [gpu.strip() for gpu in value.split(",") if gpu.strip()]


def _child(payload: bytes, placement: Placement, conn: Any) -> None:
    """Run one packed callable where ``placement`` says, and send back ``("ok", value)`` or
    ``("error", exception)``. Placement happens before the payload (and torch) is loaded."""
    # The job's main process decides what happens on preemption: it requeues the job and
    # terminates its packed processes, which resume from their last checkpoint next time.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    os.sched_setaffinity(0, placement.cpus)
    threads = str(len(placement.cpus))
    os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    if placement.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = placement.gpu
    import cloudpickle

    try:
        value = cloudpickle.loads(payload)()
        message = ("ok", value)
    except Exception as error:  # noqa: BLE001 - handed to the parent, which decides
        traceback.print_exc()  # the job's log keeps where it failed; the exception object alone would not
        message = ("error", error)
    try:  # cloudpickle, as submitit: Hydra's results hold config classes plain pickle may not find
        conn.send_bytes(cloudpickle.dumps(message))
    except Exception as error:  # noqa: BLE001 - an unpicklable result or exception
        conn.send_bytes(cloudpickle.dumps(("error", RuntimeError(f"result could not be sent back: "
                                                                  f"{type(error).__name__}: {error}"))))
    conn.close()


def run_concurrently(calls: Sequence[Callable[[], Any]], cpus: Optional[Sequence[int]] = None,
                     gpus: Optional[Sequence[str]] = None) -> List[Any]:
    """Run each call in its own spawned process, all at once, and return their results in order.

    A call that raises gives its exception in its slot; a process that dies without a result
    gives :class:`PackedProcessDied`. ``cpus`` defaults to this process's affinity and ``gpus``
    to CUDA_VISIBLE_DEVICES. If this process is interrupted (a signal, an exception), every
    packed process still running is terminated before the interruption goes on.
    """
    import cloudpickle

    where = placements(len(calls), cpus if cpus is not None else sorted(os.sched_getaffinity(0)),
                       gpus if gpus is not None else visible_gpus())
    context = multiprocessing.get_context("spawn")
    started, finished = [], False
    try:
        for call, placement in zip(calls, where):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(cloudpickle.dumps(call), placement, send), daemon=False)
            process.start()
            send.close()  # the child holds the only sending end: its death is EOF here
            started.append((process, receive))
            # print: a submitit job's main process has no logging handlers of ours
            print(f"packed process {process.pid}: cpus {','.join(map(str, placement.cpus))}"
                  + (f", GPU {placement.gpu}" if placement.gpu is not None else ""), flush=True)
        results = []
        for process, receive in started:
            try:
                _, value = cloudpickle.loads(receive.recv_bytes())
            except EOFError:
                process.join()
                value = PackedProcessDied(f"packed process {process.pid} exited with code {process.exitcode} "
                                          "without a result")
            results.append(value)
        finished = True
        return results
    finally:
        for process, receive in started:
            if finished:  # each has sent its result and is exiting
                process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join()
            receive.close()
