"""The process registry: every process the API offers, by id.

To add a process (catchments, scenario evaluation), write a module with a
:class:`app.jobs.registry.Process` and add it to the tuple below.
"""

from __future__ import annotations

from app.jobs.appraisal_job import OPTIONS_APPRAISAL
from app.jobs.builtin import ECHO, TRAVEL_TIMES
from app.jobs.capacity_job import CAPACITY_SIZING
from app.jobs.catchment_job import CATCHMENTS
from app.jobs.colocation_job import COLOCATION
from app.jobs.hub_siting import HUB_SITING
from app.jobs.registry import Process
from app.jobs.scenario_eval import SCENARIO_EVALUATION

REGISTRY: dict[str, Process] = {
    p.id: p
    for p in (
        HUB_SITING,
        TRAVEL_TIMES,
        ECHO,
        SCENARIO_EVALUATION,
        COLOCATION,
        CATCHMENTS,
        OPTIONS_APPRAISAL,
        CAPACITY_SIZING,
    )
}
