"""The workbook's one-call-per-cell layer: each notebook cell calls one of these and displays the result.

Every step takes ``target`` ("local" or "aws") and decides inside labkit what that means, so cells hold
no ``if TARGET``, no loops and no definitions. Long waits show a progress bar; values a headless run is
judged by are written with :func:`record` to ``out/notebooks/<notebook>.values.json``.
"""

from __future__ import annotations

from labkit.workbook.alarms import AlarmPanel, alarm_panel
from labkit.workbook.common import Recorded, paced, record, workbook_config
from labkit.workbook.headline import headline
from labkit.workbook.pipeline import (
    Verification,
    backup_gaps,
    backup_parts,
    generate_traffic,
    history_cover,
    inspect_backup_state,
    summarize_backup_state,
    verify_backups,
    wait_for_backups,
)
from labkit.workbook.search import (
    Archive,
    archive_summary,
    open_archive,
    query_archive,
    run_saved_query,
    saved_queries,
    search_archive,
)
from labkit.workbook.setup import (
    build_and_push_images,
    check_prerequisites,
    cleanup,
    deploy_ecr_stack,
    deploy_lab_stack,
)
from labkit.workbook.versioning import lambda_versions, point_alias, publish_new_version, rollback_alias

__all__ = [
    "AlarmPanel",
    "Archive",
    "Recorded",
    "Verification",
    "alarm_panel",
    "archive_summary",
    "backup_gaps",
    "backup_parts",
    "build_and_push_images",
    "check_prerequisites",
    "cleanup",
    "deploy_ecr_stack",
    "deploy_lab_stack",
    "generate_traffic",
    "headline",
    "history_cover",
    "inspect_backup_state",
    "lambda_versions",
    "open_archive",
    "paced",
    "point_alias",
    "publish_new_version",
    "query_archive",
    "record",
    "rollback_alias",
    "run_saved_query",
    "saved_queries",
    "search_archive",
    "summarize_backup_state",
    "verify_backups",
    "wait_for_backups",
    "workbook_config",
]
