"""The living searches' pages (issue 21): managers add, edit, pause and "run now" a review's saved
searches and read each one's run history; every team member can turn the e-mail digest of new records
off for themselves. Plain POST forms; each action calls one service of ``studies.services.searches``."""
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studies import access, selectors
from studies.models import Review, SavedSearch, SearchDatabase
from studies.services import searches as search_services

# Runs shown on a search's history (newest first).
HISTORY_LENGTH = 100


class SavedSearchForm(forms.Form):
    database = forms.ChoiceField(choices=SearchDatabase.choices)
    query = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
                            help_text="Exactly as the service takes it (PubMed field tags, Europe PMC syntax...).")
    first_date = forms.DateField(required=False, label="Search from",
                                 widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="The first run looks for records entered from this date; empty: all.")
    every_days = forms.IntegerField(min_value=1, max_value=365, initial=7, label="Run every (days)")
    active = forms.BooleanField(required=False, initial=True, label="Active (run on the schedule)")


def _managed(request: HttpRequest, slug: str) -> Review:
    return access.review_for(request, slug, access.MANAGER, action="manage the living searches")[0]


def _form_errors(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


def _save(request: HttpRequest, review: Review, form: SavedSearchForm, search: SavedSearch | None) -> bool:
    if not form.is_valid():
        return False
    try:
        search_services.saved_search_save(review=review, user=request.user, search=search, **form.cleaned_data)
    except ValidationError as error:
        _form_errors(form, error)
        return False
    return True


@login_required
def searches_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The review's saved searches with their latest run, and the form to add one."""
    review = _managed(request, slug)
    form = SavedSearchForm(request.POST or None)
    if request.method == "POST" and _save(request, review, form, None):
        messages.success(request, "Search saved. It runs at the schedule's next look (within minutes).")
        return redirect("studies:searches", review.slug)
    return render(request, "studies/searches/searches.html", {
        "review": review, "searches": selectors.saved_searches(review), "form": form,
        "overlap_days": settings.SEARCH_OVERLAP_DAYS,
    }, status=400 if form.errors else 200)


def _search(review: Review, search_id: int) -> SavedSearch:
    return get_object_or_404(SavedSearch, pk=search_id, review=review)


@login_required
def search_detail(request: HttpRequest, slug: str, search_id: int) -> HttpResponse:
    """One saved search: edit it, and the history of its runs."""
    review = _managed(request, slug)
    search = _search(review, search_id)
    initial = {"database": search.database, "query": search.query, "first_date": search.first_date,
               "every_days": search.every_days, "active": search.active}
    form = SavedSearchForm(request.POST or None, initial=initial)
    if request.method == "POST" and _save(request, review, form, search):
        messages.success(request, "Search updated. Later runs use the new query; past runs keep theirs.")
        return redirect("studies:search", review.slug, search.pk)
    runs = selectors.search_runs(search)[:HISTORY_LENGTH]
    return render(request, "studies/searches/search.html", {
        "review": review, "search": search, "form": form, "runs": runs,
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def search_activate(request: HttpRequest, slug: str, search_id: int) -> HttpResponse:
    review = _managed(request, slug)
    search = _search(review, search_id)
    active = request.POST.get("active") == "1"
    search_services.saved_search_activate(search=search, user=request.user, active=active)
    messages.success(request, "Search resumed: it runs at the schedule's next look." if active else
                     "Search paused: the schedule leaves it alone until you resume it.")
    if request.POST.get("next") == "detail":
        return redirect("studies:search", review.slug, search.pk)
    return redirect("studies:searches", review.slug)


@login_required
@require_POST
def search_run_now(request: HttpRequest, slug: str, search_id: int) -> HttpResponse:
    review = _managed(request, slug)
    search = _search(review, search_id)
    search_services.saved_search_run_soon(search=search, user=request.user)
    messages.success(request, "The search was sent to a worker; its run appears in the history when it starts.")
    return redirect("studies:search", review.slug, search.pk)


@login_required
def search_digest(request: HttpRequest, slug: str) -> HttpResponse:
    """A team member's choice: the e-mail digest of new records from this review's searches, or not."""
    review, _roles = access.review_for(request, slug, access.TEAM, action="choose your e-mails")
    if request.method == "POST":
        opted_out = request.POST.get("digest") != "on"
        search_services.digest_opt_out_set(review=review, user=request.user, opted_out=opted_out)
        messages.success(request, "You will not get the digest any more." if opted_out else
                         "You will get the digest when searches bring new records.")
        return redirect("studies:search-digest", review.slug)
    return render(request, "studies/searches/digest.html", {
        "review": review, "receives": not selectors.digest_opted_out(review=review, user=request.user),
    })
