from django.urls import path

from studies.pages import audit as audit_views
from studies.pages import extraction as extraction_views
from studies.pages import imports as import_views
from studies.pages import risk_of_bias as rob_views
from studies.pages import prioritisation as prioritisation_views
from studies.pages import screening as screening_views
from studies.pages import searches as search_views
from studies.pages import team as team_views
from studies.pages import value_checks as value_check_views
from studies.api import views as api

app_name = "studies"

urlpatterns = [
    path("reviews/<slug:slug>/imports/", import_views.import_upload, name="import-upload"),
    path("reviews/<slug:slug>/imports/<int:batch_id>/undo/", import_views.import_undo_view, name="import-undo"),
    path("reviews/<slug:slug>/duplicates/", import_views.duplicate_queue, name="duplicate-queue"),
    path("reviews/<slug:slug>/imports/previews/<int:pending_id>/", import_views.import_preview, name="import-preview"),
    path("reviews/<slug:slug>/imports/previews/<int:pending_id>/confirm/", import_views.import_confirm,
         name="import-confirm"),
    path("reviews/<slug:slug>/imports/previews/<int:pending_id>/cancel/", import_views.import_cancel,
         name="import-cancel"),
    path("reviews/<slug:slug>/duplicates/<int:candidate_id>/", import_views.duplicate_decide_view, name="duplicate-decide"),
    path("reviews/<slug:slug>/duplicates/<int:candidate_id>/undo/", import_views.duplicate_undo_view,
         name="duplicate-undo"),
    path("reviews/<slug:slug>/duplicates/bulk/", import_views.duplicate_bulk, name="duplicate-bulk"),
    path("reviews/<slug:slug>/risk-of-bias/", rob_views.rob_list, name="rob-list"),
    path("reviews/<slug:slug>/risk-of-bias/propose/", rob_views.rob2_proposal, name="rob2-propose"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/", rob_views.rob1_assess, name="rob1-assess"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/consensus/", rob_views.rob1_consensus,
         name="rob1-consensus"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/", rob_views.rob2_assess,
         name="rob2-assess"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/consensus/",
         rob_views.rob2_consensus, name="rob2-consensus"),
    # Data extraction (issue 9).
    path("reviews/<slug:slug>/extraction/", extraction_views.extraction_list, name="extraction-list"),
    path("reviews/<slug:slug>/extraction/convert/", extraction_views.extraction_convert, name="extraction-convert"),
    path("reviews/<slug:slug>/extraction/studies/<int:study_id>/", extraction_views.extraction_study,
         name="extraction-study"),
    path("reviews/<slug:slug>/extraction/studies/<int:study_id>/consensus/", extraction_views.extraction_consensus,
         name="extraction-consensus"),
    path("reviews/<slug:slug>/extraction/studies/<int:study_id>/arms/", extraction_views.extraction_arms,
         name="extraction-arms"),
    path("reviews/<slug:slug>/extraction/studies/<int:study_id>/reports/<int:record_id>/pdf",
         extraction_views.extraction_pdf, name="extraction-pdf"),
    # Values held by the plausibility check (issue 20).
    path("reviews/<slug:slug>/extraction/awaiting-check/", value_check_views.values_awaiting_check,
         name="values-awaiting-check"),
    # Screening (issue 7).
    path("reviews/<slug:slug>/screening/", screening_views.screening_home, name="screening"),
    path("reviews/<slug:slug>/screening/agreement/", screening_views.agreement_page, name="agreement"),
    path("reviews/<slug:slug>/screening/included/", screening_views.included, name="included"),
    path("reviews/<slug:slug>/screening/full-text/<int:record_id>/pdf", screening_views.fulltext, name="fulltext"),
    path("reviews/<slug:slug>/screening/mine/", screening_views.my_decisions, name="my-decisions"),
    path("reviews/<slug:slug>/screening/prioritisation/", prioritisation_views.prioritisation_page,
         name="prioritisation"),
    path("reviews/<slug:slug>/screening/<str:stage>/", screening_views.screen, name="screen"),
    path("reviews/<slug:slug>/screening/<str:stage>/undo/", screening_views.undo, name="undo"),
    path("reviews/<slug:slug>/screening/<str:stage>/withdraw/", screening_views.withdraw, name="withdraw"),
    path("reviews/<slug:slug>/screening/<str:stage>/conflicts/", screening_views.conflicts, name="conflicts"),
    # The team: members, roles, work done, invitations (issue 18).
    path("reviews/<slug:slug>/team/", team_views.team, name="team"),
    path("reviews/<slug:slug>/team/invitations/", team_views.team_invite, name="team-invite"),
    path("reviews/<slug:slug>/team/invitations/<int:invitation_id>/resend/", team_views.team_invitation_resend,
         name="team-invitation-resend"),
    path("reviews/<slug:slug>/team/invitations/<int:invitation_id>/revoke/", team_views.team_invitation_revoke,
         name="team-invitation-revoke"),
    path("reviews/<slug:slug>/team/roles/", team_views.team_role_add, name="team-role-add"),
    path("reviews/<slug:slug>/team/roles/<int:membership_id>/remove/", team_views.team_role_remove,
         name="team-role-remove"),
    path("reviews/<slug:slug>/screening/<str:stage>/conflicts/withdraw/", screening_views.resolution_withdraw,
         name="resolution-withdraw"),
    # Living searches (issue 21).
    path("reviews/<slug:slug>/searches/", search_views.searches_page, name="searches"),
    path("reviews/<slug:slug>/searches/digest/", search_views.search_digest, name="search-digest"),
    path("reviews/<slug:slug>/searches/<int:search_id>/", search_views.search_detail, name="search"),
    path("reviews/<slug:slug>/searches/<int:search_id>/active/", search_views.search_activate,
         name="search-activate"),
    path("reviews/<slug:slug>/searches/<int:search_id>/run/", search_views.search_run_now, name="search-run"),
    # The audit trail, for managers (issue 18).
    path("reviews/<slug:slug>/audit/", audit_views.audit_page, name="audit"),
    # Public: the PRISMA flow diagram's counts (the diagram, studies:prisma-svg, is drawn by
    # analysis.pages.prisma; reviewsite/urls.py adds its route to this namespace).
    path("api/reviews/<slug:slug>/prisma/", api.PrismaView.as_view(), name="api-prisma"),
]
