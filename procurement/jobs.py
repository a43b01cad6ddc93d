"""Background jobs of the procurement module: thin wrappers over the services."""
from __future__ import annotations

from core.jobs import Phases, phased_job
from procurement import services_allocation

# The allocation solve runs in three steps so that no transaction is open while it computes
# (see core.jobs.Phases); its progress is stored on the run after every step.
phased_job(services_allocation.JOB_NAME, Phases(
    load=services_allocation.load_run,
    compute=services_allocation.solve_run,
    store=services_allocation.store_run,
))
