"""The versioning lesson: published Lambda versions, the ``live`` alias, rolling forward and back.

The same API calls on both targets (the emulator's Lambda keeps versions and aliases as AWS does). A
version is published only when something changed since the last one, so a new version is made by
changing the function first: here its description, which names the release. On AWS the stack normally
does this (a new image tag, then ``pulumi up``); see LAMBDA-VERSIONING.md.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from labkit import aws
from labkit.config import LabConfig
from labkit.dashboard.tables import Table, audit_table
from labkit.errors import LabkitError
from labkit.workbook.common import workbook_config


class VersioningError(LabkitError):
    """A version or alias operation was refused (unknown function or version, nothing to roll back to)."""


def lambda_versions(target: str = "local", function: str = "downloader") -> Table:
    """Every published version of ``function`` (scanner|detector|downloader or its full name); ``live`` marked."""
    config = workbook_config(target)
    lam, name = aws.client("lambda", config), function_name(config, function)
    live = _alias_version(lam, config, name)
    rows = [
        {
            "version": v["Version"],
            "live": "<- live" if v["Version"] == live else "",
            "description": v.get("Description", ""),
            "image": v.get("ImageUri") or _image_uri(lam, name, v["Version"]),
            "last modified": v.get("LastModified", ""),
            "code sha256": str(v.get("CodeSha256", ""))[:12],
        }
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page["Versions"]
        if v["Version"] != "$LATEST"
    ]
    rows.sort(key=lambda row: int(row["version"]))
    return audit_table(pd.DataFrame(rows), f"{name}: {len(rows)} published version(s), live at {live}")


def publish_new_version(target: str = "local", function: str = "downloader", description: str = "") -> Table:
    """Change the function (its description names the release), then publish it as a new version."""
    config = workbook_config(target)
    lam, name = aws.client("lambda", config), function_name(config, function)
    description = description or "workbook release"
    lam.update_function_configuration(FunctionName=name, Description=description)
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    published = lam.publish_version(FunctionName=name, Description=description)
    return audit_table(
        pd.DataFrame(
            [
                {
                    "function": name,
                    "new version": published["Version"],
                    "description": published.get("Description", ""),
                    "live still at": _alias_version(lam, config, name),
                }
            ]
        )
    )


def point_alias(target: str = "local", function: str = "downloader", version: str = "") -> Table:
    """Move ``live`` to ``version`` (default: the newest); every event source follows at once."""
    config = workbook_config(target)
    lam, name = aws.client("lambda", config), function_name(config, function)
    version = str(version or _published(lam, name)[-1])
    if version not in {str(v) for v in _published(lam, name)}:
        raise VersioningError(f"{name} has no published version {version}: publish one first")
    return _move_alias(lam, config, name, version)


def rollback_alias(target: str = "local", function: str = "downloader") -> Table:
    """Move ``live`` back to the newest version older than the one it points at."""
    config = workbook_config(target)
    lam, name = aws.client("lambda", config), function_name(config, function)
    current = int(_alias_version(lam, config, name))
    older = [v for v in _published(lam, name) if v < current]
    if not older:
        raise VersioningError(
            f"{name}: live is at version {current}, there is no older version to roll back to"
        )
    return _move_alias(lam, config, name, str(older[-1]))


def function_name(config: LabConfig, function: str) -> str:
    names = {
        "scanner": config.names.scanner,
        "detector": config.names.detector,
        "downloader": config.names.downloader,
    }
    if function in names:
        return names[function]
    if function in names.values():
        return function
    raise VersioningError(
        f"unknown function {function!r}: expected one of {', '.join(names)} (or a full name)"
    )


def _move_alias(lam: Any, config: LabConfig, name: str, version: str) -> Table:
    before = _alias_version(lam, config, name)
    lam.update_alias(FunctionName=name, Name=config.names.alias, FunctionVersion=version)
    after = _alias_version(lam, config, name)
    moved = pd.DataFrame([{"function": name, "alias": config.names.alias, "was": before, "now": after}])
    return audit_table(moved, f"{config.names.alias} alias: version {before} -> {after}")


def _alias_version(lam: Any, config: LabConfig, name: str) -> str:
    return str(lam.get_alias(FunctionName=name, Name=config.names.alias)["FunctionVersion"])


def _published(lam: Any, name: str) -> list[int]:
    return sorted(
        int(v["Version"])
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page["Versions"]
        if v["Version"].isdigit()
    )


def _image_uri(lam: Any, name: str, version: str) -> str:
    return str(lam.get_function(FunctionName=name, Qualifier=version).get("Code", {}).get("ImageUri", ""))
