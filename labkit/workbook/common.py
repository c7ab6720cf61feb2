"""What every workbook step shares: the config for a target, progress bars, and recorded values.

Notebook cells hold one call each; the target (``local`` or ``aws``) is decided here and below, never in
a cell. The local lab is paced for a workshop by default (``labkit.config.PROFILES["workshop"]``, the profile
``make lab`` uses), so a notebook sees its backups within a minute; explicit settings beat the profile.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labkit.config import LabConfig, load_config, with_profile

WORKBOOK_PROFILE = "workshop"  # labkit.config.PROFILES: the local lab paced for a workshop
DEFAULT_OUT_DIR = Path("out") / "notebooks"


def workbook_config(target: str = "local", **overrides: Any) -> LabConfig:
    """The lab config for ``target``: argument > LABKIT_* variable > the workshop profile > default.

    The workshop profile is the default profile here (a ``profile`` argument or LABKIT_PROFILE picks another);
    a scan interval or seal delay given explicitly or in the environment beats it.
    """
    if target == "local" and not overrides.get("profile") and not os.environ.get("LABKIT_PROFILE"):
        overrides["profile"] = WORKBOOK_PROFILE
    return load_config(target=target, **overrides)


def paced(config: LabConfig) -> LabConfig:
    """An already-built local config under the workshop profile (labkit.config.with_profile)."""
    return with_profile(config, WORKBOOK_PROFILE)


COUNTED = "{desc}: {n_fmt} {unit} [{elapsed}]{postfix}"  # no total known: what is done so far
MEASURED = "{desc}: {percentage:3.0f}%|{bar:30}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]{postfix}"


def progress(total: float | None, description: str, unit: str = "step", file: Any = None) -> Any:
    """A text progress bar on stdout: shows in notebooks, in papermill's output and in a terminal.

    Text rather than widgets: ipywidgets is not a dependency, and the bar must survive an HTML export.
    """
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        unit_scale=unit == "B",
        file=file or sys.stdout,
        mininterval=0.5,
        bar_format=COUNTED if total is None else MEASURED,
        ncols=110,
    )


@contextmanager
def timed_bar(seconds: float, description: str) -> Iterator[Any]:
    """A bar over wall-clock seconds, for waits whose length is known in advance."""
    with progress(seconds, description, unit="s") as bar:
        started = time.monotonic()

        def advance() -> None:
            bar.n = min(seconds, time.monotonic() - started)
            bar.refresh()

        bar.advance = advance
        yield bar
        bar.n = seconds
        bar.refresh()


class Chart:
    """A matplotlib Figure that shows itself as a PNG in any notebook front end.

    IPython renders a bare Figure as an image only once pyplot's inline backend is loaded; this needs no
    backend at all (papermill, Voila and HTML exports get ``image/png`` either way).
    """

    def __init__(self, figure: Any, dpi: int = 100) -> None:
        self.figure = figure
        self.dpi = dpi

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight")
        return buffer.getvalue()

    def __repr__(self) -> str:
        titles = [ax.get_title() for ax in self.figure.axes if ax.get_title()]
        return "chart: " + (" | ".join(titles) or "(untitled)")

    def savefig(self, *args: Any, **kwargs: Any) -> None:
        self.figure.savefig(*args, **kwargs)


class Recorded(dict[str, Any]):
    """The recorded values (a dict, exactly as in the file), shown as a short table of figures, not a dict."""

    path: Path

    def _view(self) -> Any:
        from labkit.dashboard.tables import figures_table

        return figures_table(self, f"{len(self)} values recorded in {self.path.name} (for tests and scripts)")

    def _repr_html_(self) -> str:
        return str(self._view()._repr_html_())

    def __repr__(self) -> str:
        return repr(self._view())


def record(name: str, values: Any, out_dir: str | Path = DEFAULT_OUT_DIR) -> Recorded:
    """Write ``<out_dir>/<name>.values.json`` and return the values (the cell displays them as figures).

    ``values``: a mapping, or a DataFrame or Table (recorded as ``{"rows": [...]}``). papermill records nothing by
    itself; tests and people read these files after a headless run.
    """
    from labkit.dashboard.tables import Table

    if isinstance(values, Table):  # a table for people records its frame's machine values
        values = values.frame
    if hasattr(values, "to_dict") and not isinstance(values, Mapping):
        values = {"rows": values.to_dict(orient="records")}
    plain = {str(key): _plain(value) for key, value in dict(values).items()}
    path = Path(out_dir) / f"{name}.values.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plain, indent=2, sort_keys=True, default=str) + "\n")
    recorded = Recorded(json.loads(path.read_text()))  # exactly what was recorded
    recorded.path = path
    return recorded


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as the Python values JSON knows; lists of rows element by element."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value
