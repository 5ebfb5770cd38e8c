"""Server-rendered pages of the review database. Views translate HTTP; selectors read."""
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from studies import selectors


def home(request: HttpRequest) -> HttpResponse:
    """The front page: the public reviews, and where the back office is."""
    my_reviews = selectors.member_reviews(request.user) if request.user.is_authenticated else []
    return render(request, "home.html", {"reviews": selectors.public_reviews(), "my_reviews": my_reviews})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker-compose: answers only if the database does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
