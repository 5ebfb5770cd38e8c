"""An uploaded export file waiting for its manager to confirm the import after the preview.

The bytes are kept in PostgreSQL rather than in the session (a cookie cannot hold megabytes, and must
not) or on a disk: every web process on every machine sees the same row (DESIGN.md, "Scale": no
state lives in a process), the confirm locks and deletes the row in the import's own transaction, so
two tabs confirming the same preview import once, and a preview expires by a date in the row.
"""
from datetime import timedelta

from django.conf import settings
from django.db import models

from studies.models.records import ImportFormat
from studies.models.reviews import Review

# A preview not confirmed within a day is refused (and purged): the review's records may have changed
# since, and a forgotten upload should not keep its bytes in the database.
PENDING_IMPORT_LIFETIME = timedelta(hours=24)


class PendingImport(models.Model):
    """One upload between its preview and the manager's confirm or cancel."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="pending_imports")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file_name = models.CharField(max_length=255)
    content = models.BinaryField(help_text="The uploaded file, exactly as sent.")
    sha256 = models.CharField("SHA-256", max_length=64)
    # What the manager chose (``auto`` or a format) and what the preview detected.
    requested_format = models.CharField(max_length=20, default="auto")
    file_format = models.CharField(max_length=20, choices=ImportFormat.choices)
    encoding = models.CharField(max_length=20)
    column_mapping = models.JSONField(default=dict, blank=True, help_text="CSV: record field → column header.")
    # The search the file is the result of (the search source is created only on confirm).
    database = models.CharField(max_length=100)
    date_searched = models.DateField()
    query = models.TextField(blank=True)
    # The preview as shown (``ImportPreview.as_dict``): the page shows it again without re-reading the file.
    preview = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["review", "uploaded_by"], name="pending_import_review_user"),
                   models.Index(fields=["created_at"], name="pending_import_created")]

    @property
    def expires_at(self):
        return self.created_at + PENDING_IMPORT_LIFETIME

    def __str__(self) -> str:
        return f"{self.file_name} (preview of {self.created_at:%Y-%m-%d %H:%M})"
