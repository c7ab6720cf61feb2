"""The emulator's local-only control plane under ``/labkit-api/``: GET/POST ``faults``, GET ``logfiles``
(every registered instance's files), GET ``rds-calls`` (RDS requests served so far, by action and instance,
the throttled ones, and each token bucket's admitted calls against what it allowed), and the routes the lab service adds (the Lambda runtime's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from labkit.local.emulator.wire import StartResponse, json_answer, read_body

if TYPE_CHECKING:
    from labkit.local.emulator.rds_api import LogFileApi

LABKIT_API = "/labkit-api/"


class ControlApi:
    """Answers ``/labkit-api/<route>`` for one LogFileApi."""

    def __init__(self, api: LogFileApi) -> None:
        self.api = api
        # more routes (the service adds the Lambda runtime's): name -> f(method, body)
        self.routes: dict[str, Callable[[str, bytes], Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        route = environ["PATH_INFO"][len(LABKIT_API) :]
        if route == "logfiles":
            return json_answer(start_response, "200 OK", self.log_files())
        if route == "rds-calls":
            with self.api._lock:
                calls, per_instance = dict(self.api.rds_calls), dict(self.api.rds_calls_by_instance)
                throttled = dict(self.api.rds_throttled)
            answer = {
                "total": sum(calls.values()),
                "by_action": calls,
                "by_instance": per_instance,
                "throttled": throttled,  # by action, included in the counts above
                "profile": asdict(self.api.profile),
                # the aws profile's buckets: admitted calls, age, and burst + refill x age (what was allowed)
                "budget": self.api.budget.usage(),
            }
            return json_answer(start_response, "200 OK", answer)
        if route in self.routes:
            method = environ.get("REQUEST_METHOD", "GET")
            return json_answer(start_response, "200 OK", self.routes[route](method, read_body(environ)))
        if route != "faults":
            return json_answer(
                start_response, "404 Not Found", {"error": f"unknown labkit-api path {route!r}"}
            )
        if environ.get("REQUEST_METHOD") == "POST":
            update = json.loads(read_body(environ) or b"{}")
            unknown = set(update) - set(asdict(self.api.faults))
            if unknown:
                return json_answer(
                    start_response, "400 Bad Request", {"error": f"unknown fault(s): {sorted(unknown)}"}
                )
            for key, value in update.items():
                setattr(self.api.faults, key, type(getattr(self.api.faults, key))(value))
        return json_answer(start_response, "200 OK", asdict(self.api.faults))

    def log_files(self) -> dict[str, list[dict[str, Any]]]:
        """Every registered instance's files: name as RDS lists it, path on disk, size, LastWritten."""
        with self.api._lock:
            directories = dict(self.api.directories)
        return {
            instance_id: [
                {
                    "name": f.name,
                    "path": str(f.path),
                    "inode": f.inode,
                    "size": f.size,
                    "last_written": f.last_written_ms,
                }
                for f in audit.files()
            ]
            for instance_id, audit in directories.items()
        }
