"""One named check of ``labkit check`` (labkit.ops.check): PASS or FAIL, what was seen, what to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PASS, FAIL = "PASS", "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS or FAIL
    detail: str  # what was seen, in a line
    fix: str = ""  # what to do when it failed

    @classmethod
    def passed(cls, name: str, detail: str) -> CheckResult:
        return cls(name, PASS, detail)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str) -> CheckResult:
        return cls(name, FAIL, detail, fix)

    @property
    def ok(self) -> bool:
        return self.status == PASS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
