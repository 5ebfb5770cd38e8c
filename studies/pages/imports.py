"""Manager pages for imports: upload with a summary, and the duplicate review queue.
Views translate HTTP and call one service each."""
from datetime import date
import difflib

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from studies import access
from studies.imports import ImportFileError
from studies.imports.table import DEFAULT_COLUMNS
from studies.models import CandidateStatus, DuplicateCandidate, ImportBatch, ImportFormat, Review
from studies.services.imports import (
    ImportUndoRefused,
    duplicate_decide,
    import_file,
    import_undo,
    import_undo_blockers,
)

COMPARED_FIELDS = ["title", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid", "nct_id", "abstract"]


def _managed_review(request: HttpRequest, slug: str) -> Review:
    """The review, if the user manages it (``access.review_for``: 404 outside its team, 403 naming
    the role for team members in other roles)."""
    return access.review_for(request, slug, access.MANAGER, action="import records")[0]


def _column_mapping(post) -> dict[str, str] | None:
    """CSV only: the record fields the manager pointed at a column of the file (``map_<field>``)."""
    mapping = {field: post[f"map_{field}"].strip() for field in DEFAULT_COLUMNS if post.get(f"map_{field}", "").strip()}
    return mapping or None


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
                summary = import_file(review=review, database=request.POST.get("database", "").strip(),
                                      date_searched=searched, query=request.POST.get("query", ""),
                                      file_name=upload.name, content=upload.read(),
                                      file_format=request.POST.get("file_format") or "auto",
                                      column_mapping=_column_mapping(request.POST), imported_by=request.user)
            except ImportFileError as failure:
                error = str(failure)
            except ValidationError as invalid:
                error = "; ".join(invalid.messages)
    imports = list(ImportBatch.objects.filter(review=review).select_related("source", "imported_by"))
    blockers = import_undo_blockers(batches=imports)
    batches = [(batch, blockers[batch.pk]) for batch in imports]
    return render(request, "studies/imports/upload.html", {
        "review": review, "summary": summary, "error": error, "batches": batches, "formats": ImportFormat.choices,
        "mappable": list(DEFAULT_COLUMNS), "posted": request.POST if error else {},
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
        rows = []
        for name in COMPARED_FIELDS:
            left, right = _shown(getattr(candidate.duplicate, name)), _shown(getattr(candidate.primary, name))
            rows.append((name, *word_diff(left, right), left != right))
        pairs.append((candidate, rows))
    return render(request, "studies/imports/queue.html", {"review": review, "pairs": pairs})


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(value)
    return "" if value is None else str(value)


def word_diff(left: str, right: str) -> tuple[SafeString, SafeString]:
    """Both texts, escaped, with the words that differ marked: a person deciding whether two
    records are one paper needs to see *where* they differ (a year, a word of the title)."""
    a, b = left.split(), right.split()
    marked_a, marked_b = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        words_a, words_b = escape(" ".join(a[i1:i2])), escape(" ".join(b[j1:j2]))
        if op == "equal":
            marked_a.append(words_a)
            marked_b.append(words_b)
            continue
        if words_a:
            marked_a.append(f"<mark>{words_a}</mark>")
        if words_b:
            marked_b.append(f"<mark>{words_b}</mark>")
    return mark_safe(" ".join(marked_a)), mark_safe(" ".join(marked_b))  # every piece escaped above


@login_required
@require_POST
def duplicate_decide_view(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    try:
        duplicate_decide(review=review, candidate_id=candidate_id, decision=request.POST.get("decision", ""),
                         user=request.user)
    except DuplicateCandidate.DoesNotExist:
        raise Http404("No such duplicate pair.") from None
    except ValidationError as invalid:
        return HttpResponseBadRequest("; ".join(invalid.messages))
    return redirect("studies:duplicate-queue", slug=slug)
