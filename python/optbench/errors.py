"""Errors of the optbench package: one class per gRPC status code that a caller may want to catch
apart, each carrying the code's name and the coordinator's message unchanged."""

import grpc


class Error(Exception):
    """A failed optbench call. `code` is the gRPC status code's name ("NOT_FOUND"), `message`
    the coordinator's message (or, for a check made here, this package's, in the same style:
    lower case, naming the bad value and what is allowed)."""

    code = "UNKNOWN"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        return f"{self.code}: {self.message}"


class InvalidArgumentError(Error, ValueError):
    code = "INVALID_ARGUMENT"


class NotFoundError(Error, LookupError):
    code = "NOT_FOUND"


class FailedPreconditionError(Error):
    code = "FAILED_PRECONDITION"


class UnauthenticatedError(Error):
    code = "UNAUTHENTICATED"


class PermissionDeniedError(Error):
    code = "PERMISSION_DENIED"


class UnavailableError(Error, ConnectionError):
    code = "UNAVAILABLE"


class DataLossError(Error):
    code = "DATA_LOSS"


_BY_CODE = {cls.code: cls for cls in (InvalidArgumentError, NotFoundError,
                                      FailedPreconditionError, UnauthenticatedError,
                                      PermissionDeniedError, UnavailableError, DataLossError)}


def error(code, message):
    """The most specific Error for the status code named `code`."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls else Error(message, code)


def from_rpc(e):
    """The Error for a failed call (a grpc.RpcError), with the coordinator's code and message."""
    if isinstance(e, grpc.Call):
        return error(e.code().name, e.details() or "")
    return Error(str(e))
