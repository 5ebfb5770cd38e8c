"""Manager pages for imports: upload, preview, confirm or cancel; and the duplicate review queue.
Views translate HTTP and call one service each."""
from datetime import date
import difflib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from studies import access
from studies.imports import ImportFileError
from studies.imports.formats import FILE_FORMAT_CHOICES
from studies.imports.table import DEFAULT_COLUMNS
from studies.models import CandidateStatus, DuplicateCandidate, ImportBatch, PendingImport, Review
from studies.services.import_preview import (
    PendingImportGone,
    pending_import_cancel,
    pending_import_confirm,
    pending_import_create,
)
from studies.services.imports import (
    BULK_DECISIONS,
    DuplicateUndoRefused,
    ImportUndoRefused,
    duplicate_bulk_plan,
    duplicate_decide,
    duplicate_decide_bulk,
    duplicate_undo,
    duplicate_undo_blockers,
    import_undo,
    import_undo_blockers,
)

COMPARED_FIELDS = ["title", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid", "nct_id", "abstract"]
# Pairs shown per page of the queue, and recent merges offered for undo.
QUEUE_PAGE = 50
RECENT_MERGES = 20


def _managed_review(request: HttpRequest, slug: str) -> Review:
    """The review, if the user manages it (``access.review_for``: 404 outside its team, 403 naming
    the role for team members in other roles)."""
    return access.review_for(request, slug, access.MANAGER, action="import records")[0]


def _column_mapping(post) -> dict[str, str] | None:
    """CSV only: the record fields the manager pointed at a column of the file (``map_<field>``)."""
    mapping = {field: post[f"map_{field}"].strip() for field in DEFAULT_COLUMNS if post.get(f"map_{field}", "").strip()}
    return mapping or None


def _upload_page(request: HttpRequest, review: Review, *, summary=None, error: str | None = None,
                 status: int = 200) -> HttpResponse:
    imports = list(ImportBatch.objects.filter(review=review).select_related("source", "imported_by"))
    blockers = import_undo_blockers(batches=imports)
    batches = [(batch, blockers[batch.pk]) for batch in imports]
    pending = list(PendingImport.objects.filter(review=review).select_related("uploaded_by")
                   .defer("content", "preview"))
    return render(request, "studies/imports/upload.html", {
        "review": review, "summary": summary, "error": error, "batches": batches, "formats": FILE_FORMAT_CHOICES,
        "mappable": list(DEFAULT_COLUMNS), "posted": request.POST if error else {}, "pending": pending,
    }, status=status)


@login_required
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """The upload form; a posted file is read and previewed (nothing written to the review) and the
    manager is sent to its preview to confirm or cancel."""
    review = _managed_review(request, slug)
    if request.method != "POST" or not request.FILES.get("file"):
        return _upload_page(request, review)
    upload = request.FILES["file"]
    try:
        searched = date.fromisoformat(request.POST.get("searched_on") or timezone.localdate().isoformat())
    except ValueError:
        return _upload_page(request, review, error="Enter the date searched as YYYY-MM-DD.")
    try:
        pending = pending_import_create(
            review=review, user=request.user, file_name=upload.name, content=upload.read(),
            database=request.POST.get("database", "").strip(), date_searched=searched,
            query=request.POST.get("query", ""), file_format=request.POST.get("file_format") or "auto",
            column_mapping=_column_mapping(request.POST))
    except ImportFileError as failure:
        return _upload_page(request, review, error=str(failure))
    except ValidationError as invalid:
        return _upload_page(request, review, error="; ".join(invalid.messages))
    return redirect("studies:import-preview", slug=slug, pending_id=pending.pk)


@login_required
def import_preview(request: HttpRequest, slug: str, pending_id: int) -> HttpResponse:
    """What the import of an uploaded file would do, with its confirm and cancel buttons."""
    review = _managed_review(request, slug)
    pending = PendingImport.objects.filter(pk=pending_id, review=review).select_related("uploaded_by").defer(
        "content").first()
    if pending is None:
        messages.info(request, "That preview was already imported or cancelled.")
        return redirect("studies:import-upload", slug=slug)
    return render(request, "studies/imports/preview.html", {
        "review": review, "pending": pending, "preview": pending.preview,
        "expired": pending.expires_at <= timezone.now(),
    })


@login_required
@require_POST
def import_confirm(request: HttpRequest, slug: str, pending_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    try:
        summary = pending_import_confirm(review=review, pending_id=pending_id, user=request.user)
    except PendingImportGone as gone:
        return _upload_page(request, review, error=str(gone), status=409)
    except ImportFileError as failure:
        return _upload_page(request, review, error=str(failure))
    except ValidationError as invalid:
        return _upload_page(request, review, error="; ".join(invalid.messages))
    return _upload_page(request, review, summary=summary)


@login_required
@require_POST
def import_cancel(request: HttpRequest, slug: str, pending_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    if pending_import_cancel(review=review, pending_id=pending_id, user=request.user):
        messages.info(request, "Import cancelled; nothing was imported.")
    else:
        messages.info(request, "That preview was already imported or cancelled.")
    return redirect("studies:import-upload", slug=slug)


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


# --- The duplicate queue ------------------------------------------------------------------------------


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


def pair_rows(left, right) -> list[tuple[str, SafeString, SafeString, bool]]:
    """The compared fields of two records: (field, left marked, right marked, whether they differ)."""
    rows = []
    for name in COMPARED_FIELDS:
        a, b = _shown(getattr(left, name)), _shown(getattr(right, name))
        rows.append((name, *word_diff(a, b), a != b))
    return rows


def _queue_page(request: HttpRequest, review: Review, *, error: str = "", status: int = 200) -> HttpResponse:
    waiting = DuplicateCandidate.objects.filter(review=review, status=CandidateStatus.PENDING)
    pending = list(waiting.select_related("duplicate", "primary", "import_batch").order_by("-score", "pk")
                   [:QUEUE_PAGE])
    # Left: the record imported first (lower id), right: the later one, whatever the pair row says.
    pairs = []
    for candidate in pending:
        left, right = sorted((candidate.duplicate, candidate.primary), key=lambda record: record.pk)
        pairs.append((candidate, left, right, pair_rows(left, right)))
    merged = list(DuplicateCandidate.objects.filter(review=review, status=CandidateStatus.MERGED)
                  .select_related("duplicate", "primary", "decided_by").order_by("-decided_at", "-pk")
                  [:RECENT_MERGES])
    blockers = duplicate_undo_blockers(candidates=merged)
    return render(request, "studies/imports/queue.html", {
        "review": review, "pairs": pairs, "waiting": waiting.count(), "shown": len(pairs), "error": error,
        "merges": [(candidate, blockers[candidate.pk]) for candidate in merged],
        "bulk_decisions": BULK_DECISIONS.items(),
    }, status=status)


@login_required
def duplicate_queue(request: HttpRequest, slug: str) -> HttpResponse:
    return _queue_page(request, _managed_review(request, slug))


def _record_id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@login_required
@require_POST
def duplicate_decide_view(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    """``keep=<record id>`` (either side of the pair; ``decision=merge`` implied) or ``decision=keep_both``."""
    review = _managed_review(request, slug)
    keep = _record_id(request.POST.get("keep", ""))
    decision = request.POST.get("decision") or ("merge" if keep else "")
    try:
        duplicate_decide(review=review, candidate_id=candidate_id, decision=decision, keep=keep, user=request.user)
    except DuplicateCandidate.DoesNotExist:
        raise Http404("No such duplicate pair.") from None
    except ValidationError as invalid:
        return _queue_page(request, review, error=f"Pair {candidate_id}: " + "; ".join(invalid.messages), status=400)
    return redirect("studies:duplicate-queue", slug=slug)


@login_required
@require_POST
def duplicate_undo_view(request: HttpRequest, slug: str, candidate_id: int) -> HttpResponse:
    review = _managed_review(request, slug)
    try:
        duplicate_undo(review=review, candidate_id=candidate_id, user=request.user)
    except DuplicateCandidate.DoesNotExist:
        raise Http404("No such duplicate pair.") from None
    except DuplicateUndoRefused as refused:
        return _queue_page(request, review, error=f"The merge of pair {candidate_id} was not undone. {refused}",
                           status=409)
    except ValidationError as invalid:
        return _queue_page(request, review, error="; ".join(invalid.messages), status=400)
    messages.info(request, f"Merge undone: pair {candidate_id} is back in the queue.")
    return redirect("studies:duplicate-queue", slug=slug)


@login_required
@require_POST
def duplicate_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Several pairs at once, in two steps: the page lists what will happen; the manager confirms."""
    review = _managed_review(request, slug)
    ids = [int(value) for value in request.POST.getlist("candidate") if value.isdigit()]
    decision = request.POST.get("decision", "")
    if not ids:
        return _queue_page(request, review, error="Select the pairs to decide first.", status=400)
    try:
        if request.POST.get("confirmed") == "yes":
            decided = duplicate_decide_bulk(review=review, candidate_ids=ids, decision=decision, user=request.user)
            messages.info(request, f"{decided} pair(s) decided.")
            return redirect("studies:duplicate-queue", slug=slug)
        steps = duplicate_bulk_plan(review=review, candidate_ids=ids, decision=decision)
    except ValidationError as invalid:
        return _queue_page(request, review, error=" ".join(invalid.messages), status=400)
    return render(request, "studies/imports/queue_bulk.html", {
        "review": review, "steps": steps, "decision": decision, "decision_label": BULK_DECISIONS[decision],
        "refused": any(step.refusal for step in steps),
    })
