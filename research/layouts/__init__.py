"""Layouts: how a research run makes its samples, runs its tasks, describes itself and reports, one registered
class per layout (base.py holds the protocol and the registry; series.py and panel.py the layouts).

Importing the package registers every layout, as importing models.zoo registers every net.
"""

from . import panel, series
from .base import Context, Layout, Plan, Task, TaskResult, layout_of, list_layouts, register_layout

__all__ = [
    "Context",
    "Layout",
    "Plan",
    "Task",
    "TaskResult",
    "layout_of",
    "list_layouts",
    "panel",
    "register_layout",
    "series",
]
