"""The runtime's ``/labkit-api/`` routes, for other processes: counters, a scan now, and drain."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from labkit.local.runtime.lambda_runtime import LambdaRuntime


def control_routes(runtime: LambdaRuntime) -> dict[str, Callable[[str, bytes], Any]]:
    """``/labkit-api/`` routes for other processes (notebooks, the lab's main job, status views).

    GET ``runtime`` -> counters per function; POST ``runtime/tick`` -> run the scanner now;
    POST ``runtime/drain`` with ``{"timeout": s}`` -> ``{"idle": bool}`` once the pipeline caught up.
    """

    def stats(method: str, body: bytes) -> Any:
        return {"running": runtime.running, **runtime.stats()}

    def tick(method: str, body: bytes) -> Any:
        runtime.tick()
        return {"ticked": True}

    def drain(method: str, body: bytes) -> Any:
        timeout = float(json.loads(body or b"{}").get("timeout", 60.0))
        return {"idle": runtime.drain(timeout)}

    return {"runtime": stats, "runtime/tick": tick, "runtime/drain": drain}
