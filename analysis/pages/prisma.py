"""``/reviews/<slug>/prisma.svg``: the PRISMA 2020 flow diagram page.

It lives in analysis because it draws with :mod:`analysis.figures.prisma`, and studies does not
import analysis (.importlinter). The counts are studies' (``studies.selectors.prisma_counts``);
the URL keeps its name ``studies:prisma-svg`` (reviewsite/urls.py adds it to that namespace).
"""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from analysis.figures.prisma import prisma_layout, prisma_svg
from studies import access, selectors


@require_GET
def prisma_figure(request: HttpRequest, slug: str) -> HttpResponse:
    """The PRISMA 2020 flow diagram, drawn from the database on each request (so the cached review
    page that embeds it never shows stale counts); ``?download=1`` serves it as an attachment."""
    review = get_object_or_404(access.visible_reviews(request.user), slug=slug)
    counts = selectors.prisma_counts(review).as_json()
    body = prisma_svg(prisma_layout(counts), title=f"PRISMA 2020 flow diagram: {review.title}")
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type="image/svg+xml")
    response["Cache-Control"] = "no-cache"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{review.slug}-prisma.svg"'
    return response
