"""Connectors of the living searches (issue 21): each asks one bibliographic service, through its
documented API, for the records a query finds in a window of dates, and gives them back as the
importer's ``ParsedRecord``s. They read and parse only; ``studies.services.searches`` writes.

Every request goes through ``studies.searches.http.ServiceClient``: a timeout, retries with
exponential backoff that honour ``Retry-After``, and a request rate shared by all workers in Redis
(``studies.searches.ratelimit``). Anything wrong with an answer is a ``SearchServiceError`` in the
service's own words.
"""
from studies.searches.base import Harvest, SearchServiceError, SearchWindow, harvest

__all__ = ["Harvest", "SearchServiceError", "SearchWindow", "harvest"]
