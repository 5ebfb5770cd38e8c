"""Server-rendered pages of the review database. Views translate HTTP; selectors read."""
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify

from studies import access, selectors
from studies.models import Review
from studies.pages.work import review_tasks
from studies.services.reviews import review_create


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


@login_required
def review_new(request: HttpRequest) -> HttpResponse:
    """Start a review: its creator becomes its first manager and goes on to invite the team."""
    if not access.may_create_review(request.user):
        raise PermissionDenied("Starting a review takes the permission to add reviews; "
                               "a site administrator can give it (the “Review managers” group has it).")
    form = ReviewNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        slug = data["slug"] or slugify(data["title"])[:100].strip("-")
        try:
            review = review_create(title=data["title"], slug=slug, question=data["question"],
                                   created_by=request.user)
        except ValidationError as invalid:
            for field, messages in invalid.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return redirect("studies:team", slug=review.slug)  # next: invite the team
    return render(request, "studies/review_new.html", {"form": form}, status=400 if form.errors else 200)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and docker-compose: answers only if the database does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
