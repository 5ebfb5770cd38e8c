"""``/reviews/<slug>/prisma.svg`` and ``/reviews/<slug>/prisma/``: the PRISMA 2020 flow diagram, as a
figure and as stacked text (legible on a phone, where the figure shrinks below reading size).

It lives in analysis because it draws with :mod:`analysis.figures.prisma`, and studies does not
import analysis (.importlinter). The counts are studies' (``studies.selectors.prisma_counts``);
the URLs keep their names in the studies namespace (reviewsite/urls.py adds them there).
"""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from analysis.figures.prisma import PrismaLayout, prisma_layout, prisma_svg
from studies import access, selectors
from studies.models import Review


def review_prisma_layout(review: Review) -> PrismaLayout:
    """The diagram of a review as its reader pages show it: the update flow when the review has a
    previous version (``selectors.prisma_previous_version_at`` chooses the cut-off)."""
    counts = selectors.prisma_counts(review, selectors.prisma_previous_version_at(review))
    return prisma_layout(counts.as_json())


@require_GET
def prisma_figure(request: HttpRequest, slug: str) -> HttpResponse:
    """The PRISMA 2020 flow diagram, drawn from the database on each request (so the cached review
    page that embeds it never shows stale counts); ``?download=1`` serves it as an attachment."""
    review = get_object_or_404(access.visible_reviews(request.user), slug=slug)
    body = prisma_svg(review_prisma_layout(review), title=f"PRISMA 2020 flow diagram: {review.title}")
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type="image/svg+xml")
    response["Cache-Control"] = "no-cache"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{review.slug}-prisma.svg"'
    return response


@require_GET
def prisma_text(request: HttpRequest, slug: str) -> HttpResponse:
    """The same boxes as the figure, stacked as text in the figure's reading order (one list per
    phase), so the flow reads on any screen width and to a screen reader."""
    review = get_object_or_404(access.visible_reviews(request.user), slug=slug)
    layout = review_prisma_layout(review)
    phases = [(label, [box for box in layout.boxes if top <= box.y < bottom]) for label, top, bottom in layout.phases]
    return render(request, "analysis/prisma.html", {"review": review, "phases": phases,
                                                    "description": layout.description})
