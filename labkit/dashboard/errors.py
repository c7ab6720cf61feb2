"""Errors of the dashboards: what could not be read, from where, and what to do."""

from __future__ import annotations

from labkit.errors import LabkitError


class DashboardError(LabkitError):
    """Base of the dashboards' errors."""


class BackupStoreError(DashboardError):
    """The tracking table or the backup bucket cannot be read (not deployed, wrong target, no access)."""
