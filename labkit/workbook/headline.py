"""The headline card of notebooks 50, 60 and 80 for a target: the tracking table, the parts and the alarms
read where the target is, then ``labkit.dashboard.headline`` renders them."""

from __future__ import annotations

from labkit.alarms import DEFAULT_LAG_THRESHOLD_S
from labkit.dashboard.card import Headline
from labkit.workbook.common import workbook_config


def headline(target: str = "local", retention_hours: float = 24.0) -> Headline:
    """Is everything backed up? Files and bytes in S3, LOST and FAILED, lag against retention, alarms."""
    from labkit.dashboard.card import headline as card
    from labkit.dashboard.state import backup_parts, backup_state
    from labkit.workbook.alarms import alarm_results

    config = workbook_config(target)
    results, _ = alarm_results(config, DEFAULT_LAG_THRESHOLD_S)
    return card(
        backup_state(config), backup_parts(config), retention_hours, {r.rule.key: r.state for r in results}
    )
