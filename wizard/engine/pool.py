"""The bounded pool that runs node jobs in parallel (as k0sctl's ``BatchedParallelEach``).

A failing node never stops the others: a job that raises (a bug) becomes that node's failed
result. Ctrl-C sets the run's cancel flag; the pool then waits for each node to finish or roll
back the step it is in. While the pool runs in the main thread, SIGINT only sets that flag (its
handler is swapped for the pool's length): a Ctrl-C that lands while a job is being submitted
or a thread started can neither lose a job nor leave the nodes running unwatched.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Mapping

from wizard.engine.events import Event, Status
from wizard.engine.job import Job
from wizard.engine.model import ApplyOptions, NodeResult, NodeState
from wizard.engine.phase import PhaseName
from wizard.engine.runstate import RunState


def run_pool(
    jobs: Mapping[str, Job],
    options: ApplyOptions,
    cancel: threading.Event,
    state: RunState,
    emit: Callable[[Event], None],
    keep_open: Collection[str] = frozenset(),
) -> dict[str, NodeResult]:
    """Run every job's ``run()`` in a bounded pool; each job disconnects as it finishes, but
    those in ``keep_open`` (a check after the run still needs them)."""
    results: dict[str, NodeResult] = {}

    def run_one(job: Job) -> NodeResult:
        try:
            result = job.run()
        except Exception as exc:  # a bug must not take the other nodes down
            message = f"internal error: {type(exc).__name__}: {exc}"
            emit(Event(job.name, PhaseName.RUN, Status.FAILED, message))
            result = NodeResult(
                job.name,
                NodeState.BROKEN if job.changes else NodeState.UNTOUCHED,
                f"internal error: {exc}",
            )
        state.set_node(job.name, result.state.value)
        if job.name not in keep_open:
            with contextlib.suppress(Exception):
                job.disconnect()
        return result

    workers = max(1, min(options.concurrency, len(jobs) or 1))
    said = cancel.is_set()  # "cancelling" is said once, by this thread, not the handler
    with (
        _ctrl_c_cancels(cancel),
        concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="kubeha-node"
        ) as pool,
    ):
        futures = {pool.submit(run_one, job): name for name, job in jobs.items()}
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.2)
            if cancel.is_set() and not said:
                said = True
                message = "cancelling: each node finishes or rolls back its current step"
                emit(Event(None, PhaseName.RUN, Status.INFO, message))
            for future in done:
                results[futures[future]] = future.result()
    return results


@contextlib.contextmanager
def _ctrl_c_cancels(cancel: threading.Event) -> Iterator[None]:
    """In the main thread: SIGINT sets ``cancel`` (no KeyboardInterrupt) until the block ends,
    then the previous handler is back. Elsewhere (the wizard runs the engine in a worker and
    cancels with its own button) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: cancel.set())
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
