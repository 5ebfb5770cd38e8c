from django.urls import path

from studies import import_views, rob_views

app_name = "studies"

urlpatterns = [
    path("reviews/<slug:slug>/imports/", import_views.import_upload, name="import-upload"),
    path("reviews/<slug:slug>/imports/<int:batch_id>/undo/", import_views.import_undo_view, name="import-undo"),
    path("reviews/<slug:slug>/duplicates/", import_views.duplicate_queue, name="duplicate-queue"),
    path("reviews/<slug:slug>/duplicates/<int:candidate_id>/", import_views.duplicate_decide, name="duplicate-decide"),
    path("reviews/<slug:slug>/risk-of-bias/", rob_views.rob_list, name="rob-list"),
    path("reviews/<slug:slug>/risk-of-bias/propose/", rob_views.rob2_proposal, name="rob2-propose"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/", rob_views.rob1_assess, name="rob1-assess"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/consensus/", rob_views.rob1_consensus,
         name="rob1-consensus"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/", rob_views.rob2_assess,
         name="rob2-assess"),
    path("reviews/<slug:slug>/risk-of-bias/studies/<int:study_id>/outcomes/<int:outcome_id>/consensus/",
         rob_views.rob2_consensus, name="rob2-consensus"),
]
