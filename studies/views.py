"""Server-rendered pages of the review database. Views translate HTTP; selectors read."""
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from analysis.figures.prisma import prisma_layout, prisma_svg
from analysis.selectors import review_visible_to
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


@require_GET
def prisma_figure(request: HttpRequest, slug: str) -> HttpResponse:
    """``/reviews/<slug>/prisma.svg``: the PRISMA 2020 flow diagram, drawn from the database on each
    request (so the cached review page that embeds it never shows stale counts); ``?download=1``
    serves it as an attachment."""
    review = get_object_or_404(review_visible_to(request.user), slug=slug)
    counts = selectors.prisma_counts(review).as_json()
    body = prisma_svg(prisma_layout(counts), title=f"PRISMA 2020 flow diagram: {review.title}")
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type="image/svg+xml")
    response["Cache-Control"] = "no-cache"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{review.slug}-prisma.svg"'
    return response
