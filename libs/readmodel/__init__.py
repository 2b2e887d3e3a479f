"""Read models across the services' own PostgreSQL schemas, for the CLI and any web view.

Pure async functions over one asyncpg connection, returning frozen records; they print nothing. The rows a caller
sees are picked by PostgreSQL's row-level security on each service's read models (docs/security.md).
"""

from libs.readmodel.records import (
    STATES,
    NotReady,
    Step,
    Waiting,
    WorkloadDetail,
    WorkloadFilter,
    WorkloadSummary,
)
from libs.readmodel.workloads import describe_workload, list_workloads

__all__ = ["STATES", "NotReady", "Step", "Waiting", "WorkloadDetail", "WorkloadFilter", "WorkloadSummary",
           "describe_workload", "list_workloads"]
