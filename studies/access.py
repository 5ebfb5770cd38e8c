"""The one place that answers "what may this person see and do in this review?" (DESIGN.md, "One
door"). Pages, the API, the back office, exports, the audit trail and figures all ask here; nothing
else decides access or blinding.

Three parts:

- **Roles**: the roles a user holds in a review (one query, memoised on the request). A superuser
  oversees every review as its manager; the personal roles (screener, assessor, extractor, tutor)
  come only from the team, so nobody screens or assesses by being a superuser.
- **Gatekeeping**: a review a user may not see does not exist for them (404), whatever the door; a
  member without the role gets a 403 that names the role needed and who manages the review.
- **Blinding**: querysets of screening decisions, risk-of-bias assessments and dual-extraction
  entries as a user may see them. A person always sees their own rows; another's only once the item
  is settled (screening: agreement or a tutor's resolution; risk of bias and extraction: both sides
  submitted), and an overseer without a side of their own sees a pair once it is complete.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest

from studies.models import (
    Decision,
    Review,
    ReviewMembership,
    RiskOfBiasAssessment,
    Rob2Assessment,
    Role,
    ScreeningDecision,
    ScreeningResolution,
    Stage,
    StudyExtraction,
)
from studies import selectors
from studies.selectors import ADVANCING

# Anyone holds "public" in a published review: they may read what its public pages show.
PUBLIC = "public"
TEAM = frozenset(Role.values)
READERS = TEAM | {PUBLIC}  # what a published review's public pages show
MANAGER = frozenset({Role.MANAGER})
OVERSEERS = frozenset({Role.TUTOR, Role.MANAGER})
SCREENING = frozenset({Role.SCREENER, Role.TUTOR, Role.MANAGER})
EXTRACTION = frozenset({Role.MANAGER, Role.EXTRACTOR})
RISK_OF_BIAS = frozenset({Role.MANAGER, Role.ASSESSOR})
# Who overrides a GRADE domain of the summary of findings (issue 24): the people who judge the studies'
# risk of bias, and managers. Choosing the table's outcomes and thresholds is the managers' alone.
GRADE_ASSESSORS = RISK_OF_BIAS


# --- Roles -----------------------------------------------------------------------------------------


def _is_signed_in(user) -> bool:
    return user is not None and user.is_authenticated


def roles_in(user, review: Review | int) -> frozenset[str]:
    """The team roles ``user`` holds in a review (empty for anonymous users and outsiders). A
    superuser oversees every review: they hold the manager role besides their own."""
    if not _is_signed_in(user):
        return frozenset()
    review_id = review if isinstance(review, int) else review.pk
    roles = set(ReviewMembership.objects.filter(review_id=review_id, user=user).order_by().values_list("role", flat=True))
    if user.is_superuser:
        roles.add(Role.MANAGER)
    return frozenset(roles)


def request_roles(request: HttpRequest, review: Review) -> frozenset[str]:
    """``roles_in`` for the signed-in user, memoised on the request (one query per review and request),
    plus "public" when the review is published."""
    memo = request.__dict__.setdefault("_review_roles", {})
    if review.pk not in memo:
        roles = roles_in(request.user, review)
        memo[review.pk] = roles | {PUBLIC} if review.is_public else roles
    return memo[review.pk]


def visible_reviews(user) -> QuerySet[Review]:
    """Reviews ``user`` may know exist: published ones, and those of their teams (every one for a
    superuser)."""
    public = Review.objects.filter(is_public=True)
    if not _is_signed_in(user):
        return public
    if user.is_superuser:
        return Review.objects.all()
    return public | Review.objects.filter(pk__in=ReviewMembership.objects.filter(user=user).values("review_id"))


def managed_review_ids(user) -> QuerySet:
    """Ids of the reviews ``user`` manages, as a subquery (every review for a superuser)."""
    if user.is_superuser:
        return Review.objects.values("pk")
    return ReviewMembership.objects.filter(user=user, role=Role.MANAGER).values("review_id")


def _review_ids_with_role(user, roles: Iterable[str]) -> QuerySet:
    return ReviewMembership.objects.filter(user=user, role__in=list(roles)).values("review_id")


def may_create_review(user) -> bool:
    """Who may start a review (and become its first manager): superusers and back-office staff given
    the permission to add reviews (the "Review managers" group has it)."""
    return _is_signed_in(user) and user.has_perm("studies.add_review")


# --- Gatekeeping ------------------------------------------------------------------------------------


def _role_names(roles: Iterable[str]) -> str:
    names = sorted(Role(role).label.lower() for role in roles if role in Role.values)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def denial_message(review: Review, needed: Iterable[str], action: str = "open this page") -> str:
    """A 403's message: which role it takes and who can give it."""
    managers = selectors.review_manager_names(review)
    who = (f"{', '.join(managers)} manage{'s' if len(managers) == 1 else ''} this review"
           if managers else "this review has no manager yet; a site administrator can add one")
    return f"To {action} you need the {_role_names(needed)} role in “{review.title}”; {who}."


def review_for(request: HttpRequest, slug: str, allowed: Iterable[str], *, action: str = "open this page",
               ) -> tuple[Review, frozenset[str]]:
    """The review named in the URL and the user's roles in it, if one of ``allowed`` is among them
    (``PUBLIC`` for what published pages show). Raises 404 when the user may not know the review
    exists and 403 (naming the role and the review's managers) when they may but lack the role.
    Memoised on the request, so the API's permission check and its view share one lookup."""
    reviews = request.__dict__.setdefault("_reviews_by_slug", {})
    review = reviews.get(slug)
    if review is None:
        try:
            review = Review.objects.get(slug=slug)
        except Review.DoesNotExist:
            raise Http404("No such review.") from None
        reviews[slug] = review
    roles = request_roles(request, review)
    if not roles:  # outsiders (and anonymous visitors) of an unpublished review
        raise Http404("No such review.")
    allowed = frozenset(allowed)
    if not roles & allowed:
        raise PermissionDenied(denial_message(review, allowed - {PUBLIC}, action))
    return review, roles


def require_role(user, review: Review, allowed: Iterable[str], action: str) -> frozenset[str]:
    """For the domain services: refuse a write by someone without one of ``allowed`` in the review."""
    roles = roles_in(user, review)
    allowed = frozenset(allowed)
    if not roles & allowed:
        raise PermissionDenied(f"Only the review's {_role_names(allowed)}s can {action}.")
    return roles


# --- The second look at a held value -----------------------------------------------------------------

# Who may confirm or correct an entry held "awaiting check": the people who enter data (a manager, or
# an extractor), never the person who entered it: the hold is there for a second pair of eyes.
VALUE_CHECKERS = EXTRACTION


def may_check_value(user, review: Review | int, entered_by_id: int | None) -> bool:
    """Whether ``user`` may confirm or correct a held outcome value entered by ``entered_by_id``."""
    return bool(roles_in(user, review) & VALUE_CHECKERS) and user.pk != entered_by_id


def require_value_checker(user, review: Review | int, entered_by_id: int | None) -> None:
    """Refuse a confirm or correct by someone who may not (a 403 that says why)."""
    if not roles_in(user, review) & VALUE_CHECKERS:
        raise PermissionDenied(f"Only the review's {_role_names(VALUE_CHECKERS)}s can confirm or correct a value "
                               "awaiting check.")
    if user.pk == entered_by_id:
        raise PermissionDenied("You entered this value: a second team member (a manager or another extractor) "
                               "confirms or corrects it.")


# --- Blinding: screening ----------------------------------------------------------------------------
#
# Outer references below are to a ScreeningDecision row (or an audit event of one), through its
# ``record`` and ``stage`` columns.


def _pair(record_ref: str = "record") -> QuerySet[ScreeningDecision]:
    return ScreeningDecision.objects.filter(record=OuterRef(record_ref), stage=OuterRef("stage"))


def _pair_complete(record_ref: str) -> Exists:
    """The record of the outer row has two or more decisions at its stage."""
    return Exists(_pair(record_ref).filter(Exists(ScreeningDecision.objects.filter(
        record=OuterRef("record"), stage=OuterRef("stage")).exclude(pk=OuterRef("pk")))))


def screening_settled(record_ref: str = "record") -> Q:
    """The record of the outer row is settled at its stage: a tutor resolved it, or it has two or more
    decisions that agree (all advance, or all exclude — at full text, where the review counts
    different reasons as a conflict, for one reason). The rule of ``selectors.stage_status_queryset``'s
    agreed and resolved statuses, from the record's current decisions whatever the outer row is."""
    pair = _pair(record_ref)
    resolved = Exists(ScreeningResolution.objects.filter(record=OuterRef(record_ref), stage=OuterRef("stage")))
    all_advance = ~Exists(pair.filter(decision=Decision.EXCLUDE))
    all_exclude = ~Exists(pair.filter(decision__in=ADVANCING))
    reasons_differ = Exists(pair.filter(decision=Decision.EXCLUDE).filter(Exists(
        ScreeningDecision.objects.filter(record=OuterRef("record"), stage=OuterRef("stage"), decision=Decision.EXCLUDE)
        .exclude(exclusion_reason=OuterRef("exclusion_reason")))))
    counts_reasons = Q(stage=Stage.FULL_TEXT) & Q(**{f"{record_ref}__review__fulltext_reason_conflict": True})
    agreed = _pair_complete(record_ref) & (all_advance | (all_exclude & ~(counts_reasons & reasons_differ)))
    return resolved | agreed


def _screening_visible(user, *, screener_ref: str, record_ref: str) -> Q:
    """Which decision rows (or events of them) ``user`` may see, across reviews."""
    if not _is_signed_in(user):
        return Q(pk__in=[])
    review = f"{record_ref}__review_id"
    own = Q(**{screener_ref: user.pk})
    i_decided = Exists(_pair(record_ref).filter(screener=user))
    team = Q(**{f"{review}__in": _review_ids_with_role(user, SCREENING)})
    overseen = Q(**{f"{review}__in": managed_review_ids(user)}) | Q(
        **{f"{review}__in": _review_ids_with_role(user, {Role.TUTOR})})
    # A tutor or manager who has no vote on the record sees a complete pair (they resolve conflicts).
    oversight = overseen & _pair_complete(record_ref) & ~i_decided
    # Anyone else on the screening team sees another's vote only once the record is settled, even
    # after voting themselves (DESIGN.md, blinding).
    settled = team & screening_settled(record_ref)
    return own | oversight | settled


def decisions_visible(user, queryset: QuerySet[ScreeningDecision] | None = None) -> QuerySet[ScreeningDecision]:
    """Screening decisions as ``user`` may see them (all of them, or those of ``queryset``)."""
    if queryset is None:
        queryset = ScreeningDecision.objects.all()
    return queryset.filter(_screening_visible(user, screener_ref="screener_id", record_ref="record"))


def screener_ids(review: Review) -> list[int]:
    """The users who screen in a review (to count everyone's progress; not a permission check)."""
    return list(ReviewMembership.objects.filter(review=review, role=Role.SCREENER).values_list("user_id", flat=True))


def own_decisions(user, review: Review) -> QuerySet[ScreeningDecision]:
    """The user's own screening decisions in a review, each annotated with what they may know of its
    record and nothing more: ``settled`` (agreement or a tutor's resolution: from then on the other's
    vote is visible to them under ``decisions_visible`` anyway) and ``pair_complete`` (both screeners
    have decided, so the pair is frozen; the services refuse a change with the same news). Neither
    says how the other voted while the record is unsettled."""
    if not _is_signed_in(user):
        return ScreeningDecision.objects.none()
    return (ScreeningDecision.objects.filter(record__review=review, screener=user)
            .annotate(settled=ExpressionWrapper(screening_settled(), output_field=BooleanField()),
                      pair_complete=_pair_complete("record")))


def decision_events_visible(user, events: QuerySet) -> QuerySet:
    """Audit events of screening decisions as ``user`` may see them: by the same rule as the
    decisions, on the record and stage the event names (a withdrawn vote stays blind as long as the
    record is not settled)."""
    return events.filter(_screening_visible(user, screener_ref="screener_id", record_ref="record"))


def resolutions_visible(user, review: Review) -> QuerySet[ScreeningResolution]:
    """Tutors and managers see every resolution; a screener those of records they decided at that
    stage (a resolution elsewhere would tell them another pair's conflict)."""
    resolutions = ScreeningResolution.objects.filter(record__review=review)
    roles = roles_in(user, review)
    if roles & OVERSEERS:
        return resolutions
    if Role.SCREENER in roles:
        return resolutions.filter(Exists(ScreeningDecision.objects.filter(
            record=OuterRef("record"), stage=OuterRef("stage"), screener=user)))
    return resolutions.none()


def decision_voters(user, review: Review, stage: str, record_ids: list[int]) -> dict[int, list[str]]:
    """Who has decided on each record (names, never verdicts): for tutors and managers who do not
    screen in the review (a screener must not learn whether the other has voted)."""
    roles = roles_in(user, review)
    if not roles & OVERSEERS or Role.SCREENER in roles:
        return {}
    voters: dict[int, list[str]] = {}
    for record_id, name in (ScreeningDecision.objects.filter(record_id__in=record_ids, record__review=review,
                                                             stage=stage)
                            .order_by("record_id", "screener__username")
                            .values_list("record_id", "screener__username")):
        voters.setdefault(record_id, []).append(name)
    return voters


# --- Blinding: risk of bias and dual extraction -------------------------------------------------------


def _paired_visible(queryset: QuerySet, user, *, owner: str, item_fields: tuple[str, ...],
                    consensus: bool) -> QuerySet:
    """Two people's independent entries of one item (risk-of-bias assessments, dual extractions),
    as ``user`` may see them. Always: the user's own. Another's only once it is submitted and "both
    have submitted": the user's own entry of the same item is submitted too, or, for someone without
    one (a manager arbitrating), a second entry of the item is submitted. A consensus, which holds the
    others' judgments, follows the user's side of that rule: whoever has a draft of their own does not
    see it."""
    if not _is_signed_in(user):
        return queryset.none()
    model = queryset.model
    same_item = {field: OuterRef(field) for field in item_fields}
    individual = model.objects.filter(**same_item)
    if consensus:
        individual = individual.filter(is_consensus=False)
    own = individual.filter(**{owner: user})
    own_submitted = own.filter(submitted_at__isnull=False)
    another_submitted = individual.filter(submitted_at__isnull=False).exclude(pk=OuterRef("pk"))
    others = Q(submitted_at__isnull=False) & (Exists(own_submitted) | (~Exists(own) & Exists(another_submitted)))
    if not consensus:
        return queryset.filter(Q(**{owner: user}) | others)
    return queryset.filter((Q(is_consensus=True) & (Exists(own_submitted) | ~Exists(own)))
                           | Q(**{owner: user}, is_consensus=False) | (Q(is_consensus=False) & others))


def rob1_assessments_visible(user, queryset: QuerySet[RiskOfBiasAssessment] | None = None,
                             ) -> QuerySet[RiskOfBiasAssessment]:
    """RoB 1 assessments as ``user`` may see them (all reviews, or those of ``queryset``)."""
    queryset = RiskOfBiasAssessment.objects.all() if queryset is None else queryset
    return _paired_visible(queryset, user, owner="assessor", item_fields=("study",), consensus=True)


def rob2_assessments_visible(user, queryset: QuerySet[Rob2Assessment] | None = None) -> QuerySet[Rob2Assessment]:
    """RoB 2 assessments as ``user`` may see them (all reviews, or those of ``queryset``)."""
    queryset = Rob2Assessment.objects.all() if queryset is None else queryset
    return _paired_visible(queryset, user, owner="assessor", item_fields=("study", "outcome"), consensus=True)


def study_extractions_visible(user, queryset: QuerySet[StudyExtraction] | None = None) -> QuerySet[StudyExtraction]:
    """Extractors' own entries (dual extraction) as ``user`` may see them."""
    queryset = StudyExtraction.objects.all() if queryset is None else queryset
    return _paired_visible(queryset, user, owner="extractor", item_fields=("study",), consensus=False)


# --- Blinding: prioritised screening ---------------------------------------------------------------


def ranking_labels_visible(screener, review: Review) -> dict[int, int]:
    """What one screener's ranking may learn from, as {record id: 1 relevant / 0 not}: the screener's
    own title/abstract decisions (include and unsure advance, so they count as relevant) and every
    settled record (agreed, or resolved by a tutor), whose verdict the whole team may see. Never
    another screener's vote on an unsettled record: the order of the screener's queue would reveal it
    (DESIGN.md, blinding). A settled verdict overrides the screener's own vote."""
    labels = {record_id: int(decision != Decision.EXCLUDE) for record_id, decision in
              ScreeningDecision.objects.filter(record__review=review, stage=Stage.TITLE_ABSTRACT, screener=screener)
              .values_list("record_id", "decision")}
    labels.update(selectors.settled_verdicts(review=review, stage=Stage.TITLE_ABSTRACT))
    return labels
