"""What a RevMan 5 import brought in: the file, the warnings, and RevMan's own stored results."""
from django.conf import settings
from django.db import models

from studies.models.reviews import Review


class RevManImport(models.Model):
    """The .rm5 file a review was created from.

    ``analyses`` keeps, per RevMan analysis number, the results RevMan stored in the file (pooled
    estimate, CI, Z and P, τ², Chi², I², the test for subgroup differences, each subgroup's results
    and each row's weight, the row keyed by the id of the imported data row), so the parity report
    can set ours beside them at any later time.
    """

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="revman_import")
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField("SHA-256", max_length=64)
    revman_version = models.CharField(max_length=20, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    warnings = models.JSONField(default=list, blank=True)
    analyses = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "RevMan import"

    def __str__(self) -> str:
        return f"{self.file_name} → {self.review}"
