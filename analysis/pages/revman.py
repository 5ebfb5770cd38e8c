"""RevMan 5 pages: the parity report of an imported review (for its team) and the downloads of the
review as a .rm5 file and as a study-data CSV (for its managers)."""
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.revman.export import rm5_export, study_data_csv
from analysis.revman.parity import rm5_parity
from studies import access


@login_required
def parity_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Every result RevMan stored in the imported file beside ours, with the difference."""
    review, roles = access.review_for(request, slug, access.TEAM, action="read the RevMan parity report")
    revman_import = getattr(review, "revman_import", None)
    report = rm5_parity(review)
    return render(request, "analysis/revman_parity.html", {
        "review": review, "revman_import": revman_import, "report": report,
        "may_export": bool(roles & access.MANAGER),
    })


def _download(content: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def export_rm5(request: HttpRequest, slug: str) -> HttpResponse:
    review, _ = access.review_for(request, slug, access.MANAGER, action="export the review")
    return _download(rm5_export(review), f"{review.slug}.rm5", "application/xml")


@login_required
def export_csv(request: HttpRequest, slug: str) -> HttpResponse:
    review, _ = access.review_for(request, slug, access.MANAGER, action="export the review's study data")
    return _download(study_data_csv(review).encode(), f"{review.slug}-study-data.csv", "text/csv; charset=utf-8")
