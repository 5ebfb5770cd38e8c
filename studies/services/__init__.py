"""Writes (HackSoft style: ``<entity>_<action>``, keyword-only, one transaction each)."""
from studies.services.entities import (
    entities_create,
    entities_delete,
    entity_delete,
    entity_save,
    review_data_version_bump,
    review_id_of,
)
from studies.services.reviews import membership_add, review_create

__all__ = [
    "entities_create", "entities_delete", "entity_delete", "entity_save", "membership_add", "review_create",
    "review_data_version_bump", "review_id_of",
]
