"""Errors of the audit archive search."""

from __future__ import annotations

from labkit.errors import LabkitError


class QueryError(LabkitError):
    """A query could not be rendered or run: bad parameters, unknown saved query, or an engine failure."""
