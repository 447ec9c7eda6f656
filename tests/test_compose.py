"""docker/compose.yaml: the processes that start children run under an init that reaps orphans.

A killed training launcher leaves its ranks to PID 1; without an init (the app's own process as PID 1)
they are never reaped and linger as zombies. Every app service gets `init: true` from the shared block.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker" / "compose.yaml"


@pytest.mark.parametrize("service", ["web", "worker", "training-worker", "beat"])
def test_app_services_run_under_an_init(service):
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert services[service].get("init") is True
