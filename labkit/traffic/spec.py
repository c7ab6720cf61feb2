"""What traffic to make, checked in full before any process starts.

A bad parameter found after sysbench has prepared tables or opened connections leaves half a run
behind and audit lines nobody asked for, so every value is validated when the spec is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.errors import TrafficError

WORKLOADS: tuple[str, ...] = (
    "oltp_read_write",
    "oltp_read_only",
    "oltp_write_only",
    "oltp_insert",
    "oltp_update_index",
    "oltp_update_non_index",
    "oltp_delete",
)
READ_ONLY_WORKLOADS: frozenset[str] = frozenset({"oltp_read_only"})
TARGETS: tuple[str, ...] = ("writer", "reader")
SCENARIOS: tuple[str, ...] = ("adhoc", "ddl", "users", "failed-logins")
# Scenarios that change data or accounts: the reader is read-only, so they need the writer.
WRITING_SCENARIOS: frozenset[str] = frozenset({"ddl", "users"})


@dataclass(frozen=True)
class Intensity:
    """How hard sysbench pushes: threads, table count and rows per table, and run length."""

    threads: int
    tables: int
    table_size: int
    duration_s: int


# Small enough for a 2-core laptop that also runs both MariaDB servers and the emulator.
PRESETS: dict[str, Intensity] = {
    "low": Intensity(threads=1, tables=2, table_size=1_000, duration_s=10),
    "medium": Intensity(threads=2, tables=4, table_size=10_000, duration_s=30),
    "high": Intensity(threads=4, tables=8, table_size=10_000, duration_s=60),
}
INTENSITIES: tuple[str, ...] = (*PRESETS, "custom")

# Bounds that catch typos (an extra zero) rather than limit real use.
LIMITS: dict[str, tuple[int, int]] = {
    "threads": (1, 256),
    "tables": (1, 1_000),
    "table_size": (1, 100_000_000),
    "duration_s": (1, 86_400),
}
RATE_LIMIT = (0, 1_000_000)
CLI_FLAGS = {
    "threads": "--threads",
    "tables": "--tables",
    "table_size": "--table-size",
    "duration_s": "--duration",
}


def _allowed(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise TrafficError(f"{what} {value!r} is not valid: choose one of {', '.join(allowed)}")


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrafficError(f"{name} must be a whole number between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise TrafficError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class TrafficSpec:
    """One sysbench workload against one instance of the local cluster.

    ``intensity`` picks a preset (low/medium/high); any of threads/tables/table_size/duration_s given
    explicitly overrides that preset value. ``custom`` has no preset: all four must be given.
    ``rate`` caps transactions per second (sysbench ``--rate``); 0 means unlimited.
    ``target`` is where ``run`` goes; ``prepare`` and ``cleanup`` always run on the writer, because the
    reader is read-only and gets the tables by replication.
    """

    workload: str = "oltp_read_write"
    intensity: str = "low"
    threads: int | None = None
    tables: int | None = None
    table_size: int | None = None
    duration_s: int | None = None
    rate: int = 0
    target: str = "writer"

    def __post_init__(self) -> None:
        _allowed("workload", self.workload, WORKLOADS)
        _allowed("intensity", self.intensity, INTENSITIES)
        _allowed("target", self.target, TARGETS)
        explicit = {name: getattr(self, name) for name in LIMITS}
        if self.intensity == "custom":
            missing = [name for name, value in explicit.items() if value is None]
            if missing:
                flags = ", ".join(CLI_FLAGS[name] for name in missing)
                raise TrafficError(
                    f"intensity 'custom' needs explicit {flags} (Python: {', '.join(missing)}); "
                    f"or pick a preset: {', '.join(PRESETS)}"
                )
        for name, value in explicit.items():
            if value is not None:
                _check_int(name, value, *LIMITS[name])
        _check_int("rate (transactions/s, 0 = unlimited)", self.rate, *RATE_LIMIT)
        if self.target == "reader" and self.workload not in READ_ONLY_WORKLOADS:
            raise TrafficError(
                f"workload {self.workload} writes, but the reader is read-only and replicates from the "
                f"writer: use --target writer, or a read-only workload ({', '.join(sorted(READ_ONLY_WORKLOADS))})"
            )

    @property
    def resolved(self) -> Intensity:
        """The preset with explicit values applied: what sysbench is actually told."""
        base = PRESETS.get(self.intensity)
        values = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(base, name)
            for name in LIMITS
        }
        return Intensity(**values)

    @property
    def writes(self) -> bool:
        return self.workload not in READ_ONLY_WORKLOADS


def check_scenario(name: str, target: str) -> tuple[str, ...]:
    """The scenario names ``name`` stands for ("all" = every one), refused early if the target can't run them."""
    _allowed("scenario", name, (*SCENARIOS, "all"))
    _allowed("target", target, TARGETS)
    names = SCENARIOS if name == "all" else (name,)
    if target == "reader":
        writing = [n for n in names if n in WRITING_SCENARIOS]
        if writing:
            raise TrafficError(
                f"scenario {name} changes schema or accounts ({', '.join(writing)}), but the reader is "
                "read-only and replicates from the writer: use --target writer "
                f"(read-only scenarios: {', '.join(n for n in SCENARIOS if n not in WRITING_SCENARIOS)})"
            )
    return names
