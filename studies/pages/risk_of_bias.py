"""Risk-of-bias entry pages: the assessor's list, the assessment form (RoB 1 per study, RoB 2 per
result), the live proposal of the RoB 2 algorithm, and the consensus page that puts the two
assessments side by side. Views translate HTTP and call one service each; what a user may see of
another assessor's work is decided by the selectors (blinding), never here.

Access: people outside the team get 404 for an unpublished review (it does not exist for them) and
403 for a public one; team members need the assessor role to assess, and the assessor or manager
role for the list and the consensus (``studies.services.risk_of_bias`` says why managers may
record a consensus).
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from studies import access, rob1, rob2, selectors
from studies.models import (
    Judgment,
    Outcome,
    Review,
    RiskOfBiasAssessment,
    RiskOfBiasTool,
    Rob2Assessment,
    Rob2Judgment,
    RobDomain,
    Role,
    Study,
)
from studies.services import entity_save
from studies.services.risk_of_bias import (
    Override,
    Rob1Entry,
    Rob2Entry,
    answer_field,
    rob1_assessment_save,
    rob1_consensus_save,
    rob2_assessment_save,
    rob2_consensus_save,
    rob2_propose,
)


def _review_for(request: HttpRequest, slug: str, allowed: set[str]) -> tuple[Review, frozenset[str]]:
    return access.review_for(request, slug, allowed, action="assess risk of bias")


TEAM = access.RISK_OF_BIAS


def _status(assessment) -> str:
    if assessment is None:
        return "not started"
    return "submitted" if assessment.submitted_at else "draft"


@login_required
def rob_list(request: HttpRequest, slug: str) -> HttpResponse:
    """What there is to assess, where each item stands, and (for managers) the review's tool."""
    review, roles = _review_for(request, slug, TEAM)
    if request.method == "POST":
        if Role.MANAGER not in roles:
            raise PermissionDenied("Only managers choose the review's risk-of-bias tool.")
        tool = request.POST.get("rob_tool", "")
        if tool not in RiskOfBiasTool.values:
            return HttpResponseBadRequest("rob_tool: choose ROB1 or ROB2.")
        review.rob_tool = tool
        entity_save(instance=review)  # an analysis setting: the sensitivity analyses follow the tool
        return redirect("studies:rob-list", slug=slug)
    rob2_tool = review.rob_tool == RiskOfBiasTool.ROB2
    studies = {s.pk: s for s in Study.objects.filter(review=review, is_included=True).order_by("year", "label")}
    if rob2_tool:
        outcomes = {o.pk: o for o in Outcome.objects.filter(review=review)}
        pairs = sorted(selectors.rob2_items(review=review),
                       key=lambda p: ((outcomes[p[1]].order, outcomes[p[1]].name), studies[p[0]].year or 0,
                                      studies[p[0]].label))
        model, keys = Rob2Assessment, ("study_id", "outcome_id")
    else:
        pairs = [(pk, None) for pk in studies]
        model, keys = RiskOfBiasAssessment, ("study_id",)
    mine = {tuple(getattr(a, k) for k in keys): a for a in model.objects.filter(
        study__review=review, assessor=request.user, is_consensus=False)}
    # Counts of submissions only (never their content): knowing that the other assessor has
    # finished reveals nothing of their judgments.
    counts = {tuple(row[k] for k in keys): row for row in model.objects.filter(study__review=review).values(*keys)
              .annotate(submitted=Count("pk", filter=Q(is_consensus=False, submitted_at__isnull=False)),
                        consensus=Count("pk", filter=Q(is_consensus=True)))}
    # Where a consensus came with an imported review, the list says so (it was not recorded here).
    imported = {} if rob2_tool else dict(RiskOfBiasAssessment.objects.filter(
        study__review=review, is_consensus=True).exclude(imported_from="").values_list("study_id", "imported_from"))
    items = []
    for study_id, outcome_id in pairs:
        key = (study_id, outcome_id) if rob2_tool else (study_id,)
        row = counts.get(key, {"submitted": 0, "consensus": 0})
        items.append({
            "study": studies[study_id], "outcome": outcomes[outcome_id] if rob2_tool else None,
            "mine": _status(mine.get(key)), "submitted": row["submitted"], "consensus": bool(row["consensus"]),
            "imported": imported.get(study_id, ""),
        })
    return render(request, "studies/rob/list.html", {
        "review": review, "items": items, "rob2": rob2_tool, "is_assessor": Role.ASSESSOR in roles,
        "is_manager": Role.MANAGER in roles, "tools": RiskOfBiasTool.choices,
    })


# --- RoB 2 --------------------------------------------------------------------------------------


def _rob2_entry(data) -> Rob2Entry:
    answers = {q: data.get(answer_field(q), "") for q in rob2.QUESTION_IDS}
    comments = {q: data.get("c" + answer_field(q)[1:], "") for q in rob2.QUESTION_IDS}
    overrides = {d.key: Override(data.get(f"override_{d.key}", ""), data.get(f"justification_{d.key}", ""))
                 for d in rob2.DOMAINS}
    return Rob2Entry(answers, comments, overrides,
                     Override(data.get("override_overall", ""), data.get("justification_overall", "")))


def _entry_of(assessment: Rob2Assessment | None) -> Rob2Entry:
    if assessment is None:
        return Rob2Entry({}, {}, {})
    return Rob2Entry(
        {a.question: a.answer for a in assessment.answers.all()},
        {a.question: a.comment for a in assessment.answers.all()},
        {d.domain: Override(d.override, d.justification) for d in assessment.domains.all()},
        Override(assessment.overall_override, assessment.overall_justification),
    )


def _agreed_entry(assessments: list[Rob2Assessment]) -> Rob2Entry:
    """A consensus form's starting point: the answers both assessors gave alike, others left open."""
    entries = [_entry_of(a) for a in assessments]
    answers = {q: entries[0].answers.get(q, "") for q in rob2.QUESTION_IDS
               if len({e.answers.get(q) for e in entries}) == 1}
    return Rob2Entry(answers, {}, {})


def _rob2_form_context(entry: Rob2Entry, errors: dict, compare: list[Rob2Assessment]) -> list[dict]:
    """Each domain with its questions, the current answers, the comparison columns and the proposal."""
    proposal = rob2_propose(entry)
    compared = [_entry_of(a) for a in compare]
    domains = []
    for domain in rob2.DOMAINS:
        questions = []
        for question in domain.questions:
            field = answer_field(question.id)
            theirs = [c.answers.get(question.id, "") for c in compared]
            questions.append({
                "q": question, "field": field, "comment_field": "c" + field[1:],
                "value": entry.answers.get(question.id, ""), "comment": entry.comments.get(question.id, ""),
                "options": [(o, rob2.ANSWER_LABELS[o]) for o in (*question.options, rob2.NA)],
                "applies": question.id in proposal.asked[domain.key], "error": errors.get(field),
                "theirs": theirs, "differs": len(set(theirs)) > 1,
            })
        their_judgments = [next((d.judgment for d in a.domains.all() if d.domain == domain.key), "") for a in compare]
        override = entry.domain_overrides.get(domain.key, Override())
        domains.append({
            "d": domain, "questions": questions, "proposed": proposal.domains[domain.key],
            "override": override.judgment, "justification": override.justification,
            "override_error": errors.get(f"override_{domain.key}") or errors.get(f"justification_{domain.key}"),
            "theirs": their_judgments, "differs": len(set(their_judgments)) > 1,
        })
    return domains


def _rob2_page(request, review, study, outcome, *, consensus: bool, entry: Rob2Entry, errors: dict,
               compare: list, saved: Rob2Assessment | None) -> HttpResponse:
    proposal = rob2_propose(entry)
    return render(request, "studies/rob/rob2_form.html", {
        "review": review, "study": study, "outcome": outcome, "consensus": consensus, "compare": compare,
        "domains": _rob2_form_context(entry, errors, compare), "proposal": proposal, "entry": entry,
        "judgments": Rob2Judgment.choices, "errors": errors.get("__all__"), "saved": saved,
        "locked": saved is not None and not consensus and saved.submitted_at is not None,
        "overall_error": errors.get("override_overall") or errors.get("justification_overall"),
    }, status=400 if errors else 200)


def _result(review: Review, study_id: int, outcome_id: int) -> tuple[Study, Outcome]:
    return (get_object_or_404(Study, pk=study_id, review=review, is_included=True),
            get_object_or_404(Outcome, pk=outcome_id, review=review))


def _errors(invalid: ValidationError) -> dict:
    return {k: "; ".join(v) for k, v in invalid.message_dict.items()} if hasattr(invalid, "error_dict") \
        else {"__all__": "; ".join(invalid.messages)}


@login_required
def rob2_assess(request: HttpRequest, slug: str, study_id: int, outcome_id: int) -> HttpResponse:
    """An assessor's own RoB 2 assessment of one result."""
    review, _ = _review_for(request, slug, {Role.ASSESSOR})
    study, outcome = _result(review, study_id, outcome_id)
    mine = (Rob2Assessment.objects.filter(study=study, outcome=outcome, assessor=request.user, is_consensus=False)
            .prefetch_related("answers", "domains").first())
    entry, errors = _entry_of(mine), {}
    if request.method == "POST":
        entry = _rob2_entry(request.POST)
        try:
            mine = rob2_assessment_save(study=study, outcome=outcome, assessor=request.user, entry=entry,
                                        submit=request.POST.get("action") == "submit")
        except ValidationError as invalid:
            errors = _errors(invalid)
        else:
            return redirect("studies:rob2-assess", slug=slug, study_id=study.pk, outcome_id=outcome.pk)
    return _rob2_page(request, review, study, outcome, consensus=False, entry=entry, errors=errors, compare=[],
                      saved=mine)


@login_required
def rob2_consensus(request: HttpRequest, slug: str, study_id: int, outcome_id: int) -> HttpResponse:
    """The two assessments side by side, domain by domain, and the consensus form."""
    review, _ = _review_for(request, slug, TEAM)
    study, outcome = _result(review, study_id, outcome_id)
    visible = list(access.rob2_assessments_visible(request.user, selectors.rob2_assessments(review)).filter(study=study, outcome=outcome))
    compare = [a for a in visible if not a.is_consensus and a.submitted_at is not None]
    existing = next((a for a in visible if a.is_consensus), None)
    if len(compare) < 2:
        return render(request, "studies/rob/waiting.html", {"review": review, "study": study, "outcome": outcome},
                      status=409)
    entry, errors = (_entry_of(existing) if existing else _agreed_entry(compare)), {}
    if request.method == "POST":
        entry = _rob2_entry(request.POST)
        try:
            existing = rob2_consensus_save(study=study, outcome=outcome, recorded_by=request.user, entry=entry)
        except ValidationError as invalid:
            errors = _errors(invalid)
        else:
            return redirect("studies:rob2-consensus", slug=slug, study_id=study.pk, outcome_id=outcome.pk)
    return _rob2_page(request, review, study, outcome, consensus=True, entry=entry, errors=errors, compare=compare,
                      saved=existing)


@login_required
@require_POST
def rob2_proposal(request: HttpRequest, slug: str) -> JsonResponse:
    """The algorithm's proposal for the answers in a form (the page's live preview; nothing is saved)."""
    _review_for(request, slug, TEAM)
    proposal = rob2_propose(_rob2_entry(request.POST))
    labels = dict(Rob2Judgment.choices)
    return JsonResponse({
        "domains": {key: {"proposed": value, "label": labels.get(value, "Incomplete"),
                          "asked": proposal.asked[key], "missing": proposal.missing[key]}
                    for key, value in proposal.domains.items()},
        "overall": {"proposed": proposal.overall_proposed, "label": labels.get(proposal.overall_proposed, "Incomplete")},
    })


# --- RoB 1 --------------------------------------------------------------------------------------


def _rob1_entry(data) -> Rob1Entry:
    return Rob1Entry({d.value: data.get(f"judgment_{d.value}", "") for d in RobDomain},
                     {d.value: data.get(f"support_{d.value}", "") for d in RobDomain})


def _rob1_entry_of(assessment) -> Rob1Entry:
    if assessment is None:
        return Rob1Entry({}, {})
    judgments = list(assessment.judgments.all())
    return Rob1Entry({j.domain: j.judgment for j in judgments}, {j.domain: j.support for j in judgments})


def _rob1_page(request, review, study, *, consensus, entry, errors, compare, saved) -> HttpResponse:
    compared = [_rob1_entry_of(a) for a in compare]
    letters = {key: letter for key, letter, _ in rob1.DOMAINS}
    domains = [{
        "key": d.value, "label": d.label, "letter": letters[d.value], "value": entry.judgments.get(d.value, ""),
        "support": entry.support.get(d.value, ""), "error": errors.get(f"judgment_{d.value}"),
        "theirs": [(c.judgments.get(d.value, ""), c.support.get(d.value, "")) for c in compared],
        "differs": len({c.judgments.get(d.value) for c in compared}) > 1,
    } for d in RobDomain]
    return render(request, "studies/rob/rob1_form.html", {
        "review": review, "study": study, "consensus": consensus, "compare": compare, "domains": domains,
        "judgments": Judgment.choices, "errors": errors.get("__all__"), "saved": saved,
        "locked": saved is not None and not consensus and saved.submitted_at is not None,
    }, status=400 if errors else 200)


@login_required
def rob1_assess(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    review, _ = _review_for(request, slug, {Role.ASSESSOR})
    study = get_object_or_404(Study, pk=study_id, review=review, is_included=True)
    mine = (RiskOfBiasAssessment.objects.filter(study=study, assessor=request.user, is_consensus=False)
            .prefetch_related("judgments").first())
    entry, errors = _rob1_entry_of(mine), {}
    if request.method == "POST":
        entry = _rob1_entry(request.POST)
        try:
            mine = rob1_assessment_save(study=study, assessor=request.user, entry=entry,
                                        submit=request.POST.get("action") == "submit")
        except ValidationError as invalid:
            errors = _errors(invalid)
        else:
            return redirect("studies:rob1-assess", slug=slug, study_id=study.pk)
    return _rob1_page(request, review, study, consensus=False, entry=entry, errors=errors, compare=[], saved=mine)


@login_required
def rob1_consensus(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    review, _ = _review_for(request, slug, TEAM)
    study = get_object_or_404(Study, pk=study_id, review=review, is_included=True)
    visible = list(access.rob1_assessments_visible(request.user, selectors.rob1_assessments(review)).filter(study=study))
    compare = [a for a in visible if not a.is_consensus and a.submitted_at is not None]
    existing = next((a for a in visible if a.is_consensus), None)
    if len(compare) < 2:
        return render(request, "studies/rob/waiting.html", {"review": review, "study": study}, status=409)
    if existing:
        entry = _rob1_entry_of(existing)
    else:
        first, second = (_rob1_entry_of(a) for a in compare[:2])
        entry = Rob1Entry({k: v for k, v in first.judgments.items() if second.judgments.get(k) == v}, {})
    errors = {}
    if request.method == "POST":
        entry = _rob1_entry(request.POST)
        try:
            existing = rob1_consensus_save(study=study, recorded_by=request.user, entry=entry)
        except ValidationError as invalid:
            errors = _errors(invalid)
        else:
            return redirect("studies:rob1-consensus", slug=slug, study_id=study.pk)
    return _rob1_page(request, review, study, consensus=True, entry=entry, errors=errors, compare=compare,
                      saved=existing)
