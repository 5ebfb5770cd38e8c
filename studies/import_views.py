"""Manager pages for imports: upload with a summary, and the duplicate review queue.
Views translate HTTP and call one service each."""
from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studies.imports import ImportFileError
from studies.models import CandidateStatus, DuplicateCandidate, ImportBatch, ImportFormat, Review, ReviewMembership, Role
from studies.services.imports import (
    ImportUndoRefused,
    duplicate_keep_both,
    duplicate_merge,
    import_records,
    import_undo,
    import_undo_blockers,
    search_source_ensure,
)

COMPARED_FIELDS = ["title", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid", "nct_id", "abstract"]


def _managed_review(request: HttpRequest, slug: str) -> Review:
    review = get_object_or_404(Review, slug=slug)
    if not ReviewMembership.objects.filter(review=review, user=request.user, role=Role.MANAGER).exists():
        raise PermissionDenied("Only the review's managers can import records.")
    return review


@login_required
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    review = _managed_review(request, slug)
    summary, error = None, None
    if request.method == "POST" and request.FILES.get("file"):
        upload = request.FILES["file"]
        try:
            searched = date.fromisoformat(request.POST.get("searched_on") or date.today().isoformat())
        except ValueError:
            error = "Enter the date searched as YYYY-MM-DD."
        else:
            try:
                # One transaction: a refused file leaves no search source behind either.
                with transaction.atomic():
                    source = search_source_ensure(review=review,
                                                  database=request.POST.get("database", "").strip() or "Unknown",
                                                  date_searched=searched, query=request.POST.get("query", ""))
                    summary = import_records(review=review, source=source, file_name=upload.name,
                                             content=upload.read(),
                                             file_format=request.POST.get("file_format") or "auto",
                                             imported_by=request.user)
            except ImportFileError as failure:
                error = str(failure)
            except ValidationError as invalid:
                error = "; ".join(invalid.messages)
    imports = list(ImportBatch.objects.filter(review=review).select_related("source", "imported_by"))
    blockers = import_undo_blockers(batches=imports)
    batches = [(batch, blockers[batch.pk]) for batch in imports]
    return render(request, "studies/imports/upload.html", {
        "review": review, "summary": summary, "error": error, "batches": batches, "formats": ImportFormat.choices,
    })


@login_required
@require_POST
def import_undo_view(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    batch = get_object_or_404(ImportBatch, pk=batch_id, review=review)
    try:
        import_undo(batch=batch, user=request.user)
    except ImportUndoRefused:
        pass  # the page shows the reason next to the batch
    return redirect("studies:import-upload", slug=slug)


@login_required
def duplicate_queue(request: HttpRequest, slug: str) -> HttpResponse:
    review = _managed_review(request, slug)
    pending = (DuplicateCandidate.objects.filter(review=review, status=CandidateStatus.PENDING)
               .select_related("duplicate", "primary")[:50])
    pairs = []
    for candidate in pending:
        rows = [(name, getattr(candidate.duplicate, name), getattr(candidate.primary, name),
                 getattr(candidate.duplicate, name) != getattr(candidate.primary, name)) for name in COMPARED_FIELDS]
        pairs.append((candidate, rows))
    return render(request, "studies/imports/queue.html", {"review": review, "pairs": pairs})


@login_required
@require_POST
def duplicate_decide(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    decision = request.POST.get("decision")
    if decision not in ("merge", "keep_both"):
        return HttpResponseBadRequest("Choose 'merge' or 'keep_both'.")
    with transaction.atomic():
        # Locked and re-read: a second manager, or a double submit, finds the pair already decided.
        candidate = get_object_or_404(DuplicateCandidate.objects.select_for_update(), pk=candidate_id, review=review)
        if candidate.status == CandidateStatus.PENDING:
            if decision == "merge":
                duplicate_merge(candidate=candidate, user=request.user)
            else:
                duplicate_keep_both(candidate=candidate, user=request.user)
    return redirect("studies:duplicate-queue", slug=slug)
