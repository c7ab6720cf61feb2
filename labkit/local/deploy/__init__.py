"""Local deploy: the application resources of the Pulumi stack, created in the emulator.

Names and pipeline settings come from :class:`~labkit.config.LabConfig` — the object the Pulumi program
reads too — so the local lab and the AWS stack cannot drift apart. Every step is idempotent: running the
deploy twice leaves the same resources (and the same published function versions) behind.

What moto cannot run is still registered, so the versioning lesson works locally: the three functions
(container images in ECR, a published version and a ``live`` alias each) exist in the emulator's Lambda
service, but nothing is ever invoked through moto — :mod:`labkit.local.runtime` drives the handlers
in-process instead. Event source mappings are deliberately NOT created in moto: moto's would drain the
table stream (it invokes on every write, enabled or not) and break SendMessage on the queue (REFERENCE.md,
moto notes). The stream mapping is still defined here (:func:`downloader_stream_mapping`, with the same
filter criteria as the stack) and returned in :class:`DeployedResources`: the local runtime applies it.
"""

from labkit.local.deploy.functions import (
    FunctionDeployment,
    function_names,
    function_sizes,
    lambda_environment,
)
from labkit.local.deploy.resources import (
    DeployedResources,
    deploy_local,
    destroy_local,
    downloader_stream_mapping,
)

__all__ = [
    "DeployedResources",
    "FunctionDeployment",
    "deploy_local",
    "destroy_local",
    "downloader_stream_mapping",
    "function_names",
    "function_sizes",
    "lambda_environment",
]
