"""The lab service's pipeline: the application resources deployed in the emulator, then the real handlers run
from their event sources, with the environment a Lambda function would have."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import replace

from labkit.config import LabConfig
from labkit.errors import LabkitError
from labkit.local.deploy import deploy_local
from labkit.local.runtime.invoke import Handler, json_log, log
from labkit.local.runtime.lambda_runtime import LambdaRuntime

HANDLER_MODULES = {
    "scanner": "labkit.handlers.scanner",
    "detector": "labkit.handlers.detector",
    "downloader": "labkit.handlers.downloader",
}


def emulator_environment(config: LabConfig, endpoint: str) -> dict[str, str]:
    """What makes the handlers' own boto3 clients (SDK defaults, as on AWS) talk to the emulator."""
    budget = config.rds_budget_per_s
    return {
        # the RDS budget the lab service was started with, whatever way it was given
        "LABKIT_RDS_PROFILE": config.rds_profile,
        "LABKIT_RDS_BUDGET_RPS": str(budget if budget is not None else 0),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": config.region,
        "LABKIT_ENDPOINT_URL": endpoint,
    }


def load_handlers() -> dict[str, Handler] | None:
    """The real ``lambda_handler`` of each function, or None (logged) when they cannot be imported."""
    handlers: dict[str, Handler] = {}
    for key, module_name in HANDLER_MODULES.items():
        try:
            module = importlib.import_module(module_name)
            handlers[key] = module.lambda_handler
        except Exception as exc:  # a broken or missing handler must not keep the lab from starting
            log.warning(json_log("handlers_unavailable", module=module_name, error=repr(exc)))
            return None
    return handlers


def start_local_pipeline(
    config: LabConfig, endpoint: str, before_start: Callable[[], None] | None = None
) -> LambdaRuntime | None:
    """Deploy the application resources in the emulator, then run the handlers from their event sources.

    ``before_start`` runs between the two (the service restores its snapshot there: the resources exist,
    nothing reads the stream yet). Used by the lab service (``labkit local up``). Returns None, logged, when
    the deploy failed or the handlers cannot be imported: the lab still serves the emulator and the databases.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):  # nothing may route a handler to a real account
        os.environ.pop(name, None)
    os.environ.update(emulator_environment(config, endpoint))
    local = replace(config, endpoint_url=endpoint)
    try:
        deployed = deploy_local(local)
    except LabkitError as exc:
        log.error(json_log("deploy_failed", error=str(exc)))
        return None
    # as the stack does in the scanner's function environment: the queue it sends to (config.queue_url)
    os.environ["LABKIT_QUEUE_URL"] = deployed.queue_url
    if before_start is not None:
        before_start()
    handlers = load_handlers()
    if handlers is None:
        return None
    runtime = LambdaRuntime(local, handlers["scanner"], handlers["detector"], handlers["downloader"])
    runtime.start()
    return runtime
