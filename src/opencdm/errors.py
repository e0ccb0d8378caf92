"""CDM error codes as a plain exception, shared by every layer.

The API turns a ``CdmError`` into ``{"errCode": ..., "externalMessage": ...}`` with HTTP 400;
connectors and the engine raise it (or have their failures wrapped in it) without knowing HTTP.
"""


class CdmError(Exception):
    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


class JobStopped(Exception):
    """Raised inside a worker when the user stopped the job."""
