"""A composite foreign key: an outcome-data row's arm must belong to the row's study.

Django has no composite foreign keys, so the database gets one directly; it relies on the unique
(id, study_id) constraint on arms from 0001.
"""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("studies", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(
                "ALTER TABLE studies_outcomedata ADD CONSTRAINT outcome_data_arm_in_study "
                "FOREIGN KEY (arm_id, study_id) REFERENCES studies_arm (id, study_id) "
                "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
            ),
            reverse_sql="ALTER TABLE studies_outcomedata DROP CONSTRAINT outcome_data_arm_in_study",
        ),
    ]
