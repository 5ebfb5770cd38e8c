from django.urls import path

from studies import import_views

app_name = "studies"

urlpatterns = [
    path("reviews/<slug:slug>/imports/", import_views.import_upload, name="import-upload"),
    path("reviews/<slug:slug>/imports/<int:batch_id>/undo/", import_views.import_undo_view, name="import-undo"),
    path("reviews/<slug:slug>/duplicates/", import_views.duplicate_queue, name="duplicate-queue"),
    path("reviews/<slug:slug>/duplicates/<int:candidate_id>/", import_views.duplicate_decide, name="duplicate-decide"),
]
