"""Service job workers as Ray actors: ``mediaguard worker --ray ADDRESS``.

Design note: the database is already the queue (see :mod:`mediaguard.service.jobs`),
so scaling job workers out needs no new protocol, only more processes that claim jobs
from the same ``jobs`` table. Each actor is such a process: it opens its own
:class:`ServiceRuntime` from the driver's settings (its own database connections, its
own ONNX sessions) and runs the same :class:`BackgroundWorkers` as
``mediaguard worker`` does in threads, so leases, heartbeats, retries and webhook
delivery behave exactly as they do there. Ray only places the processes, on one
machine or many, and tells the driver when one dies.

The driver supervises instead of relying on Ray's actor restarts, so that it knows
which worker was lost and can say so: a dead actor (killed, OOM, node lost) is replaced
by a fresh one in its slot, and the job it held is taken over by whichever worker
claims it after its lease expires, exactly as for a killed ``mediaguard worker``. An
actor that cannot start (the database is unreachable, the schema is stale, a model is
missing on its node) is a :class:`ConfigError`, so the command exits and its own
supervisor (systemd, Kubernetes) decides when to try again.

Stopping asks every actor to stop, which is the graceful stop of
:class:`BackgroundWorkers`: the current input is finished and the job goes back to the
queue without counting the attempt. An actor that does not stop in time is killed, and
its job is retried when its lease expires.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from mediaguard.engines.local import default_workers
from mediaguard.engines.ray import connect, import_ray
from mediaguard.errors import ConfigError
from mediaguard.service.jobs import BackgroundWorkers
from mediaguard.service.runtime import ServiceRuntime
from mediaguard.service.settings import ServiceSettings

__all__ = ["RayJobWorkers"]

log = logging.getLogger("mediaguard.engines.ray_workers")

#: The format ``mediaguard worker`` logs in; an actor is a process of its own and
#: configures its own logging, which Ray relays to the driver's console.
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _JobWorkerActor:
    """One Ray actor: job worker threads and a webhook dispatcher over one runtime.

    It is a plain class, made remote by the driver, so this module imports without Ray.
    The driver creates it with two concurrent calls allowed: :meth:`run` blocks for
    the actor's whole life, and :meth:`stop` arrives beside it.
    """

    def __init__(self, settings: ServiceSettings, threads: int, webhooks: bool) -> None:
        logging.basicConfig(level=settings.log_level.upper(), format=_LOG_FORMAT)
        self._runtime = ServiceRuntime.open(settings)
        self._background = BackgroundWorkers(
            self._runtime, workers=threads, dispatchers=1 if webhooks else 0
        )
        self._stop_timeout = 30.0

    def ready(self) -> int:
        """The actor's process id, once its runtime is open and its models loaded."""
        return os.getpid()

    def run(self) -> None:
        """Run the workers until :meth:`stop`, then stop them and close the runtime."""
        self._background.start()
        try:
            self._background.wait()
        finally:
            self._background.stop(self._stop_timeout)
            self._runtime.close()

    def stop(self, timeout: float) -> None:
        """Ask :meth:`run` to finish; a job in progress goes back to the queue."""
        self._stop_timeout = timeout
        self._background.stop_event.set()


@dataclass(slots=True)
class _Slot:
    actor: Any
    pid: int = 0
    run: Any = None  # the reference to the actor's run(), once it is running


class RayJobWorkers:
    """Job worker actors on a Ray cluster, started, supervised and stopped together.

    It has the shape of :class:`BackgroundWorkers` (``stop_event``, :meth:`start`,
    :meth:`wait`, :meth:`stop`), so ``mediaguard worker`` drives either.

    Args:
        settings: the service settings every actor opens its runtime from. They are
            sent to the actors, secrets included, with the data directory made
            absolute: every node must see it at that path (a shared volume).
        address: the cluster to join (``"auto"``, ``"host:6379"``,
            ``"ray://host:10001"``), or None to start a local cluster sized for the
            workers and stop it afterwards. A process already connected to Ray uses
            that connection.
        workers: actors; None for as many as fit: one per ``threads`` cores of this
            machine (local cluster) or per ``threads`` CPUs of the joined cluster.
        threads: job worker threads in each actor; each actor reserves that many CPUs.
        webhooks: each actor also runs a webhook dispatcher (deliveries are leased, so
            any number of dispatchers is safe).
        start_timeout_s: how long actors may take to open their runtime.

    Raises:
        ConfigError: when Ray is not installed or an argument is out of range.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        address: str | None,
        workers: int | None = None,
        threads: int = 1,
        webhooks: bool = True,
        start_timeout_s: float = 300.0,
    ) -> None:
        """Check the arguments and import Ray; nothing runs until :meth:`start`."""
        if workers is not None and workers < 1:
            raise ConfigError(f"workers: expected a positive integer, got {workers}")
        if threads < 1:
            raise ConfigError(f"threads: expected a positive integer, got {threads}")
        self._ray = import_ray("running job workers")
        self._settings = settings.model_copy(
            update={"data_dir": settings.resolved_data_dir().absolute()}
        )
        self._address = address
        self._workers = workers
        self._threads = threads
        self._webhooks = webhooks
        self._start_timeout_s = start_timeout_s
        self._remote: Any = None
        self._slots: list[_Slot] = []
        self._started_cluster = False
        self.stop_event = threading.Event()
        #: Actors replaced after they died, since :meth:`start`.
        self.replaced_workers = 0

    @property
    def pids(self) -> list[int]:
        """The process id of each slot's current actor, on its node."""
        return [slot.pid for slot in self._slots]

    def start(self) -> None:
        """Join or start the cluster, start the actors and wait until all are ready.

        Returns early, with no job worker running, when ``stop_event`` is set while the
        actors start.

        Raises:
            ConfigError: when the cluster cannot be reached, or an actor cannot start
                (or be placed) within ``start_timeout_s``.
        """
        ray = self._ray
        own_local = self._address is None and not ray.is_initialized()
        count = self._workers
        if count is None and own_local:
            count = max(1, default_workers() // self._threads)
        # connect() keeps the caller's SIGTERM handler through ray.init, so SIGTERM
        # still means "stop gracefully" (``mediaguard worker``'s), even mid-start.
        self._started_cluster = connect(
            ray, self._address, (count or 1) * self._threads, log_to_driver=True
        )
        if self.stop_event.is_set():
            return
        if count is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            count = max(1, cpus // self._threads)
        # No Ray-level restarts or retries: the driver replaces a dead actor itself,
        # so it knows which one was lost.
        self._remote = ray.remote(
            num_cpus=self._threads, max_concurrency=2, max_restarts=0, max_task_retries=0
        )(_JobWorkerActor)
        self._slots = [_Slot(self._spawn()) for _ in range(count)]
        # All ready before any runs, so that no job is taken before start() returns.
        if not all(self._ready(slot) for slot in self._slots):
            return
        for slot in self._slots:
            slot.run = slot.actor.run.remote()

    def wait(self) -> None:
        """Supervise the actors until ``stop_event`` is set, replacing any that dies.

        Raises:
            ConfigError: when a replacement actor cannot start.
        """
        ray = self._ray
        while not self.stop_event.is_set():
            runs = {slot.run: i for i, slot in enumerate(self._slots)}
            done, _ = ray.wait(list(runs), num_returns=1, timeout=1.0)
            for ref in done:
                if self.stop_event.is_set():
                    return
                i = runs[ref]
                try:
                    ray.get(ref)
                    why = "it stopped without being asked to"
                except ray.exceptions.RayError as err:
                    lines = str(err).strip().splitlines()
                    why = lines[0] if lines else type(err).__name__
                log.warning(
                    "job worker %d (pid %d) was lost (%s); starting a new one",
                    i,
                    self._slots[i].pid,
                    why,
                )
                self._replace(i)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every actor gracefully within ``timeout``, then kill what is left.

        A job in progress goes back to the queue at the next input boundary; one whose
        actor is killed instead is retried when its lease expires. A cluster that
        :meth:`start` started is shut down.
        """
        self.stop_event.set()
        ray = self._ray
        running = [slot for slot in self._slots if slot.run is not None]
        asked = [slot.actor.stop.remote(timeout) for slot in running]
        pending = asked + [slot.run for slot in running]
        if pending:
            # A little longer than the actors' own limit, which they apply per thread.
            done, _ = ray.wait(pending, num_returns=len(pending), timeout=timeout + 5.0)
            for ref in done:
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as err:  # already dead: nothing to stop
                    log.debug("stopping a job worker: %s", err)
        for slot in self._slots:
            ray.kill(slot.actor, no_restart=True)
        self._slots = []
        if self._started_cluster:
            ray.shutdown()
            self._started_cluster = False

    def _spawn(self) -> Any:
        return self._remote.remote(self._settings, self._threads, self._webhooks)

    def _ready(self, slot: _Slot) -> bool:
        """Wait until ``slot``'s actor has opened its runtime; False if stopped first.

        It waits in short steps, so that SIGTERM or Ctrl-C during a slow start (models
        loading, a cluster short of CPUs) stops at once.
        """
        ray = self._ray
        ref = slot.actor.ready.remote()
        deadline = time.monotonic() + self._start_timeout_s
        while not ray.wait([ref], timeout=0.5)[0]:
            if self.stop_event.is_set():
                return False
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"a Ray job worker did not start within {self._start_timeout_s:g} s; "
                    f"each needs {self._threads} free CPU(s) on the cluster"
                )
        try:
            slot.pid = ray.get(ref)
        except ray.exceptions.RayActorError as err:
            raise ConfigError(f"a Ray job worker could not start: {err}") from err
        return True

    def _replace(self, i: int) -> None:
        self._ray.kill(self._slots[i].actor, no_restart=True)  # it may be alive but lost
        slot = self._slots[i] = _Slot(self._spawn())  # in place first, so stop() can kill it
        if self._ready(slot):
            slot.run = slot.actor.run.remote()
        self.replaced_workers += 1
