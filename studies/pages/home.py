"""Server-rendered pages of the review database. Views translate HTTP; selectors read."""
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from studies import access, selectors
from studies.models import Review
from studies.pages.work import review_tasks
from studies.services.revman import Rm5FormatError, rm5_import
from studies.services.reviews import review_create, review_slug


def home(request: HttpRequest) -> HttpResponse:
    """The front page: for a team member, each of their reviews with the work waiting for them there
    (live counts, links only to pages they may open); for everyone, the published reviews."""
    mine = []
    if request.user.is_authenticated:
        reviews = Review.objects.order_by("title") if request.user.is_superuser \
            else selectors.member_reviews(request.user)
        mine = [(review, review_tasks(request, review)) for review in reviews]
    return render(request, "home.html", {
        "reviews": selectors.public_reviews(), "my_reviews": mine,
        "may_create_review": access.may_create_review(request.user),
    })


class ReviewNewForm(forms.Form):
    title = forms.CharField(max_length=300, help_text="The review's title, as it will be published.")
    slug = forms.SlugField(max_length=100, required=False, label="Address",
                           help_text="The review's address: /reviews/<address>/. Left empty, made from the title.")
    question = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                               help_text="The review question (PICO); more settings in the back office.")


class ReviewFromRevManForm(forms.Form):
    revman_file = forms.FileField(label="RevMan 5 file (.rm5)",
                                  help_text="Its studies, outcomes, data, analysis settings, risk of bias and "
                                            "references become the new review's; RevMan's results are checked "
                                            "against ours.")
    slug = forms.SlugField(max_length=100, required=False, label="Address",
                           help_text="Left empty, made from the file's title.")


# A RevMan 5 review of hundreds of studies is a few megabytes of XML.
REVMAN_FILE_MAX_BYTES = 50 * 1024 * 1024


def _review_from_revman(request: HttpRequest, form: ReviewFromRevManForm) -> HttpResponse | None:
    """Create the review from the uploaded file; None (and the form's errors) when refused."""
    upload = form.cleaned_data["revman_file"]
    content = upload.read(REVMAN_FILE_MAX_BYTES + 1)
    if len(content) > REVMAN_FILE_MAX_BYTES:
        form.add_error("revman_file", f"The file is larger than {REVMAN_FILE_MAX_BYTES // 2 ** 20} MB.")
        return None
    try:
        review = rm5_import(content=content, file_name=upload.name, slug=form.cleaned_data["slug"] or None,
                            created_by=request.user).review
    except Rm5FormatError as error:
        form.add_error("revman_file", f"{upload.name}: {error}")
        return None
    except ValidationError as invalid:
        for field, messages in invalid.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
        return None
    except IntegrityError:  # the same address taken by another import a moment ago
        form.add_error("slug", "A review with this address was created a moment ago; choose another address.")
        return None
    return redirect("revman-parity", slug=review.slug)  # what came in, and RevMan's results beside ours


@login_required
def review_new(request: HttpRequest) -> HttpResponse:
    """Start a review, empty or from a RevMan 5 file: its creator becomes its first manager and goes
    on to invite the team."""
    if not access.may_create_review(request.user):
        raise PermissionDenied("Starting a review takes the permission to add reviews; "
                               "a site administrator can give it (the “Review managers” group has it).")
    from_revman = request.method == "POST" and request.POST.get("source") == "revman"
    revman_form = ReviewFromRevManForm(request.POST if from_revman else None, request.FILES if from_revman else None)
    if from_revman and revman_form.is_valid() and (done := _review_from_revman(request, revman_form)) is not None:
        return done
    form = ReviewNewForm(request.POST if request.method == "POST" and not from_revman else None)
    if request.method == "POST" and not from_revman and form.is_valid():
        data = form.cleaned_data
        slug = data["slug"] or review_slug(data["title"])
        try:
            review = review_create(title=data["title"], slug=slug, question=data["question"],
                                   created_by=request.user)
        except ValidationError as invalid:
            for field, messages in invalid.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect("studies:team", slug=review.slug)  # next: invite the team
    return render(request, "studies/review_new.html", {"form": form, "revman_form": revman_form},
                  status=400 if form.errors or revman_form.errors else 200)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker-compose: answers only if the database does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
