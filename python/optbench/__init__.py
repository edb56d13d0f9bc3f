"""optbench for researchers: submit sweeps to an optbench coordinator, follow them, and read
their jobs and per-class metric series as pandas DataFrames — from the coordinator (`Client`) or
straight from a database file, read-only (`open_db`), with the same DataFrames either way.

    import optbench
    c = optbench.Client("127.0.0.1:7070")
    sweep = c.submit("examples/heavy_tail_linear.yaml")
    c.wait(sweep)
    df = c.query(sweep, group_by="frequency:10")   # job_id, labels, step, group, value, ...

Frequency groups are numbered from 1 (the most frequent classes), as everywhere in optbench
(`optbench query` tables, CSV and JSON, and plots); per-class rows carry the class id.
"""

# The generated modules (optbench.v1, optbench._health_pb2) may live in another directory named
# optbench on sys.path (scripts/python-install, CTest): join it to this package.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from optbench.errors import (  # noqa: E402
    DataLossError, Error, FailedPreconditionError, InvalidArgumentError, NotFoundError,
    PermissionDeniedError, UnauthenticatedError, UnavailableError)
from optbench.client import Client, Status  # noqa: E402
from optbench.db import Database, open_db  # noqa: E402

__all__ = ["Client", "Status", "Database", "open_db", "Error", "InvalidArgumentError",
           "NotFoundError", "FailedPreconditionError", "UnauthenticatedError",
           "PermissionDeniedError", "UnavailableError", "DataLossError"]
