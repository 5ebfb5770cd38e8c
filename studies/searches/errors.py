"""The error of a living search: what went wrong, in the service's words where it said any."""


class SearchServiceError(Exception):
    """A search that could not be completed: nothing of it is written, and the next run covers its window."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.message = message
        self.status = status
        super().__init__(message)
