"""A training worker's start-up and shutdown: find its devices, consume their queues, advertise them.

A worker started with `-Q training` (alone or among other queues) is a training worker. Before it
starts consuming it finds what it has: ANNOTUNE_WORKER_DEVICES when set (`cpu:2`, `cuda:2:81920`;
tests fake capacities with it, operators may advertise less than the machine has), else
`python -m training.engine.devices` in a subprocess (the worker itself never imports torch). It
then consumes the queues of that device class (training.processes.routing.queues_for) instead of `training`,
writes its TrainingWorker row, refreshes the row's heartbeat from a thread and marks it stopped on a
clean shutdown. `ADVERTISED` holds the capacity for the worker's own check before it claims a job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading

from celery import signals

from .processes import routing

log = logging.getLogger(__name__)

DEVICES_ENV = "ANNOTUNE_WORKER_DEVICES"
ADVERTISED: routing.Capacity | None = None
_state: dict[str, object] = {}


def detect_capacity() -> routing.Capacity:
    """The override, or what `training.engine.devices` finds (a CPU with 1 process when it cannot tell)."""
    from django.conf import settings

    from .engine.devices import host_memory_mb

    override = os.environ.get(DEVICES_ENV, "").strip()
    if override:
        return routing.parse_capacity(override, host_memory_mb=host_memory_mb())
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "training.engine.devices"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return routing.Capacity.from_dict(json.loads(completed.stdout.strip().splitlines()[-1]))
    except (subprocess.SubprocessError, OSError, ValueError, IndexError, KeyError) as exc:
        log.error("could not detect this worker's devices (%s); advertising one CPU process", exc)
        return routing.Capacity(device_type="cpu", devices=1, memory_mb=host_memory_mb())


@signals.celeryd_after_setup.connect
def _advertise(sender: str, instance, **kwargs) -> None:
    """After -Q is applied, before consuming: swap `training` for this worker's device-class queues."""
    global ADVERTISED
    queues = instance.app.amqp.queues
    if routing.TRAINING_QUEUE not in queues.consume_from:
        return
    from django.db import connection

    from .services.workers import worker_register

    capacity = detect_capacity()
    names = routing.queues_for(capacity)
    for name in names:
        queues.select_add(name)
    queues.deselect(routing.TRAINING_QUEUE)
    concurrency = getattr(instance, "concurrency", 1) or 1
    if capacity.device_type == "cuda" and int(concurrency) > 1:
        log.warning("training worker %s runs %s jobs at once on the same GPUs: start it with --concurrency 1 "
                    "(one worker per GPU: CUDA_VISIBLE_DEVICES)", sender, concurrency)  # fmt: skip
    worker_register(name=sender, hostname=socket.gethostname(), pid=os.getpid(), capacity=capacity, queues=names)
    connection.close()  # the pool forks after this: no connection shared with the children
    ADVERTISED = capacity
    _state["name"] = sender
    log.info("training worker %s advertises %s; queues %s", sender, capacity.describe(), ", ".join(names))


def _beat(name: str, stop: threading.Event, interval: float) -> None:
    from django.db import close_old_connections, connection

    from .services.workers import worker_heartbeat

    while not stop.wait(interval):
        try:
            worker_heartbeat(name=name)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the heartbeat
            log.warning("training worker heartbeat failed", exc_info=True)
            close_old_connections()
        finally:
            connection.close()


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    name = _state.get("name")
    if not name or "thread" in _state:
        return
    from django.conf import settings

    stop = threading.Event()
    thread = threading.Thread(
        target=_beat,
        args=(name, stop, settings.TRAINING_WORKER_HEARTBEAT_SECONDS),
        name="training-worker-heartbeat",
        daemon=True,
    )
    thread.start()
    _state.update(thread=thread, stop=stop)


@signals.worker_shutdown.connect
def _stopped(sender=None, **kwargs) -> None:
    name = _state.get("name")
    if not name:
        return
    stop = _state.get("stop")
    if isinstance(stop, threading.Event):
        stop.set()
    from django.db import connection

    from .services.workers import worker_stopped

    try:
        worker_stopped(name=str(name))
    except Exception:  # noqa: BLE001 - shutting down whatever the database says
        log.warning("could not mark training worker %s stopped", name, exc_info=True)
    finally:
        connection.close()
