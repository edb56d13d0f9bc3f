"""The generated protobuf and gRPC modules (scripts/python-proto writes them; they are not
committed), imported once with an error that says how to make them."""

try:
    from optbench.v1 import coordinator_pb2 as coordinator
    from optbench.v1 import coordinator_pb2_grpc as coordinator_grpc
    from optbench.v1 import types_pb2 as types
    from optbench import _health_pb2 as health
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError(
        "optbench: the generated gRPC modules are missing or unusable "
        f"({e}); run scripts/python-install in the optbench checkout") from e

__all__ = ["coordinator", "coordinator_grpc", "types", "health"]
