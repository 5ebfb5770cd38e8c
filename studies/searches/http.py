"""The one way the connectors speak HTTP: timeouts, a shared rate, retries that honour Retry-After."""
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
import html
import json
import re
import time

from django.conf import settings
import requests

from studies.searches.errors import SearchServiceError
from studies.searches.ratelimit import RateLimit, RateLimiterUnavailable

# Answers worth asking again: the service is busy (429), or briefly broken (5xx).
RETRYABLE = frozenset({429, 500, 502, 503, 504})
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# A NUL character written as the JSON escape \u0000 (after an even number of backslashes, so not a
# backslash followed by "u0000"): no record means one, and PostgreSQL cannot store it.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_without_nul(text: str):
    """``json.loads`` of a service's answer, any NUL character left out of its strings."""
    return json.loads(_JSON_NUL.sub(r"\1", text) if "\\u0000" in text else text)


def service_words(body: str, limit: int = 300) -> str:
    """What an error answer says, shortly: a JSON message, an HTML page's title and text, or the text."""
    text = body.strip()
    if not text:
        return "(an empty answer)"
    if text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "errMsg", "ERROR", "detail"):
                value = data.get(key)
                if isinstance(value, list) and value:
                    value = value[0].get("message", value[0]) if isinstance(value[0], dict) else value[0]
                if value:
                    return str(value)[:limit]
    if text[:1] == "<" and re.search(r"<html|<!doctype html", text[:500], re.IGNORECASE):
        title = _TITLE.search(text)
        words = " ".join(html.unescape(_TAGS.sub(" ", re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", text))).split())
        shown = (title.group(1).strip() + " — " if title else "") + words
        return shown[:limit]
    return " ".join(text.split())[:limit]


def looks_like_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    head = response.text[:500].lstrip().lower()
    return "text/html" in kind or head.startswith(("<!doctype html", "<html"))


@dataclass
class ServiceClient:
    """GET requests to one service, each under the shared rate, with a timeout and capped retries."""

    service: str  # the service's name in messages, e.g. "PubMed"
    base_url: str
    rate: RateLimit
    params: dict[str, str] = field(default_factory=dict)  # sent with every request (tool, email, mailto...)
    session: requests.Session = field(default_factory=requests.Session)
    requests_made: int = 0

    def get(self, path: str, params: dict[str, object]) -> requests.Response:
        """The service's answer to ``GET base_url/path?params`` with a 2xx status.

        Retries a 429 or 5xx answer, a timeout or a dropped connection up to ``SEARCH_MAX_RETRIES``
        times, waiting what ``Retry-After`` says or else 1, 2, 4... seconds (``SEARCH_RETRY_BASE_SECONDS``
        doubled each time). Raises ``SearchServiceError`` with the service's words otherwise.
        """
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        attempts = settings.SEARCH_MAX_RETRIES + 1
        problem = ""
        for attempt in range(attempts):
            wait = settings.SEARCH_RETRY_BASE_SECONDS * 2 ** attempt
            response = self._send(url, params)
            if isinstance(response, str):
                problem = response
            else:
                if response.ok:
                    return response
                said = service_words(response.text)
                problem = f"{self.service} answered {response.status_code} {response.reason}: {said}"
                if response.status_code not in RETRYABLE:
                    raise SearchServiceError(problem, status=response.status_code)
                told = _retry_after(response.headers.get("Retry-After"))
                if told is not None:
                    if told > settings.SEARCH_RETRY_MAX_WAIT_SECONDS:
                        raise SearchServiceError(f"{problem} (and asked to wait {told:.0f} s, longer than "
                                                 f"{settings.SEARCH_RETRY_MAX_WAIT_SECONDS:g} s: the next run "
                                                 "will try again)", status=response.status_code)
                    wait = told
            if attempt + 1 < attempts:
                time.sleep(min(wait, settings.SEARCH_RETRY_MAX_WAIT_SECONDS))
        raise SearchServiceError(f"{problem} (gave up after {attempts} attempts)")

    def _send(self, url: str, params: dict[str, object]) -> requests.Response | str:
        """One request under the shared rate: the answer, or what went wrong on the way."""
        try:
            ticket = self.rate.acquire(deadline=time.monotonic() + settings.SEARCH_RETRY_MAX_WAIT_SECONDS)
        except RateLimiterUnavailable as error:
            raise SearchServiceError(f"{self.service} was not asked: {error}.") from error
        self.requests_made += 1
        try:
            # requests reads the whole answer (no streaming) before the request stops being in flight.
            return self.session.get(url, params={**self.params, **params}, timeout=settings.SEARCH_HTTP_TIMEOUT_SECONDS)
        except requests.Timeout:
            return f"{self.service} did not answer within {settings.SEARCH_HTTP_TIMEOUT_SECONDS:g} s"
        except requests.RequestException as error:
            return f"{self.service} could not be reached ({type(error).__name__}: {error})"
        finally:
            self.rate.release(ticket)

    def get_json(self, path: str, params: dict[str, object]) -> dict:
        """``get`` whose answer must be a JSON object; an HTML page or cut-off JSON is an error."""
        response = self.get(path, params)
        if looks_like_html(response):
            raise SearchServiceError(f"{self.service} sent an HTML page instead of JSON: {service_words(response.text)}")
        try:
            # As response.json() reads the body: its declared charset, else JSON's own UTF detection.
            encoding = response.encoding or requests.utils.guess_json_utf(response.content) or "utf-8"
            data = json_without_nul(response.content.decode(encoding))
        except ValueError as error:
            raise SearchServiceError(f"{self.service} sent an answer that is not complete JSON ({error}); "
                                     f"it began: {response.text[:120]!r}") from None
        if not isinstance(data, dict):
            raise SearchServiceError(f"{self.service} sent JSON that is not an object: {response.text[:120]!r}")
        return data
