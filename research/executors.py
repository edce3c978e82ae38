"""Where independent tasks run: in this process, in a local pool of spawned processes, or as Ray tasks.

The one choice between them, made by `run_all(function, shared, items, workers=..., ray_address=...)`:

- no Ray address, one worker: `function(shared, item)` for each item here, one after another;
- no Ray address, N workers: a ProcessPoolExecutor of N spawned processes;
- a Ray address (`local`, `auto`, `HOST:PORT`, `ray://HOST:PORT`, as `ray.init` reads it): each item
  is a `ray.remote` task asking for one CPU on that cluster; `shared` goes to the object store once;
  results come back with `ray.wait` / `ray.get`. Ray schedules; nothing here does.

The same function runs in each case, so results depend on the items alone, never on where they ran.
Ray is an optional dependency (`pip install 'signalstack[ray]'`), imported only when an address is given.
On Ray, what the task logs through `signalstack` loggers (INFO and above) is sent back with its result
and logged again here, so a run's log file gets the workers' lines as if they had run in this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

from signalstack.core.errors import SettingsError, SignalstackError

from .interrupt import ignore_interrupts

log = logging.getLogger(__name__)

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")

RAY_INSTALL = "pip install 'signalstack[ray]'"
"""What to run when Ray is asked for and not installed."""

LOCAL = "local"
"""The Ray address that starts a new Ray instance on this machine for the run (and stops it after)."""

CAPTURED_LOGGER = "signalstack"
"""The logger whose records a Ray task sends back with its result."""


class RayNotInstalled(SignalstackError, ImportError):
    """A Ray address was given but `import ray` fails."""


def import_ray(address: str) -> Any:
    """The ray module, or RayNotInstalled with the one line that says how to get it."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalled(f"--ray-address {address}: Ray is not installed; {RAY_INSTALL}") from None
    return ray


def run_all(
    function: Callable[[Shared, Item], Result],
    shared: Shared,
    items: Sequence[Item],
    *,
    workers: int = 1,
    ray_address: str | None = None,
) -> Iterator[Result]:
    """`function(shared, item)` for every item, yielded as each finishes (completion order, not item order).

    `function` must be a module-level function (workers import it by name). With a Ray address,
    `workers` only sizes the instance that `local` starts (all of this machine's CPUs when 1).
    A task's exception is raised here, as its own type; the tasks not yet started are cancelled, and a pool's
    running ones stopped, as they are when the caller is interrupted or stops iterating. Worker processes
    ignore SIGINT (`interrupt.ignore_interrupts`): a Ctrl-C reaches the caller, which decides.
    """
    if workers < 1:
        raise SettingsError(f"workers {workers}: expected at least 1")
    if ray_address:
        return _on_ray(import_ray(ray_address), function, shared, items, workers, ray_address)
    if workers == 1:
        return (function(shared, item) for item in items)
    return _in_processes(function, shared, items, workers)


def _in_processes(
    function: Callable[[Shared, Item], Result], shared: Shared, items: Sequence[Item], workers: int
) -> Iterator[Result]:
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=ignore_interrupts
    )
    futures: list[Future[Result]] = [pool.submit(function, shared, item) for item in items]
    try:
        for future in as_completed(futures):
            yield future.result()
    except BaseException:  # a task's error, an interrupt, or the caller stopping early: the running tasks too
        _stop(pool, futures)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor, futures: Sequence[Future[Any]]) -> None:
    """Ends the pool's worker processes now: the tasks they run are dropped, those not started cancelled.

    The executor has no public way to end running tasks before Python 3.14 (`terminate_workers`), hence its
    `_processes`."""
    for future in futures:
        future.cancel()
    for process in list(pool._processes.values()):
        process.terminate()


@dataclass
class _Outcome:
    """What a Ray task sends back: its value or its exception, and its log records."""

    value: Any = None
    error: BaseException | None = None
    remote_traceback: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        state = {k: v for k, v in record.__dict__.items() if isinstance(v, str | int | float | bool | type(None))}
        state["msg"], state["args"] = record.getMessage(), None  # arguments may not pickle; the text does
        state["exc_info"], state["exc_text"] = None, self.format(record) if record.exc_info else None
        self.records.append(state)


def _call_capturing(function: Callable[[Shared, Item], Result], shared: Shared, item: Item) -> _Outcome:
    """Runs in a Ray worker: the function's value or exception, with what it logged."""
    handler = _Collect()
    logger = logging.getLogger(CAPTURED_LOGGER)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        return _Outcome(value=function(shared, item), records=handler.records)
    except Exception as exc:
        return _Outcome(error=exc, remote_traceback=traceback.format_exc(), records=handler.records)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _replay(records: list[dict[str, Any]]) -> None:
    for state in records:
        record = logging.makeLogRecord(state)
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _on_ray(
    ray: Any,
    function: Callable[[Shared, Item], Result],
    shared: Shared,
    items: Sequence[Item],
    workers: int,
    address: str,
) -> Iterator[Result]:
    started = not ray.is_initialized()
    if started:  # else: the caller's Ray session (ray.init done before): used as it is and left running
        options: dict[str, Any] = {"logging_level": logging.WARNING}
        if address == LOCAL:
            options["include_dashboard"] = False
            if workers > 1:
                options["num_cpus"] = workers
        ray.init(address=address, **options)
    try:
        log.info(
            "Ray %s: %d task(s), 1 CPU each, on a cluster of %s CPU(s)",
            address,
            len(items),
            ray.cluster_resources().get("CPU", "?"),
        )
        remote = ray.remote(num_cpus=1)(_call_capturing)
        shared_ref = ray.put(shared)
        pending = [remote.remote(function, shared_ref, item) for item in items]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                outcome: _Outcome = ray.get(ready[0])
                _replay(outcome.records)
                if outcome.error is not None:
                    outcome.error.add_note(f"in a Ray task:\n{outcome.remote_traceback}")
                    raise outcome.error
                yield outcome.value
        finally:
            for ref in pending:
                ray.cancel(ref)
    finally:
        if started:
            ray.shutdown()
