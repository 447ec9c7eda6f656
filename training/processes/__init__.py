"""Process code: what starts, supervises and places the engine's processes. No Django.

- `runner`: one engine job in a spawned child process; relays its progress, stops and kills it.
- `launcher`: several engine processes (one per device) under `accelerate launch`, with the same outcome;
  `python -m training.processes.launcher RUN_DIR` is each rank's entry point.
- `routing`: device classes, their queues, what a worker has (`Capacity`) and what a job needs (`Needs`).
- `estimate_cli`: `python -m training.processes.estimate_cli` prints the engine's memory estimate as JSON,
  in a process of its own (the web process never imports torch).

The contract: these modules import no Django (no settings, no models, no app) and no Celery; they import
the standard library, each other and, inside the functions that run in a child, `training.engine`. A
spawned child starts from them without Django set up, and the Django side (`training/services/`, the
worker's advert in `training/worker_advert.py`) calls them with plain values.
`tests/test_import_graph.py` enforces it by reading their imports.
"""
