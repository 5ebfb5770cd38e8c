"""The audit trail (studies/models/audit.py): event tables, the pghistory triggers that fill them,
and triggers that make them append-only.

The append-only triggers are plain SQL on purpose: triggers installed by pgtrigger (including
pghistory's own ``append_only`` option) can be switched off from application code with
``pgtrigger.ignore``; these have no such switch, so the application's database role cannot
UPDATE or DELETE an event by any path (ORM, bulk, raw SQL). Only dropping the trigger, a schema
change made by a migration, can. The context table (who, which URL) may only gain keys: pghistory
upserts it as a request adds context (the user is known after DRF authenticates).
"""

import django.contrib.postgres.fields
import django.core.validators
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
import studies.models.reviews
import studies.models.validators
from django.conf import settings
from django.db import migrations, models

EVENT_TABLES = ['"studies_reviewevent"', '"studies_studyevent"', '"studies_reportevent"', '"studies_screeningdecisionevent"', '"studies_screeningresolutionevent"', '"studies_outcomedataevent"', '"studies_riskofbiasassessmentevent"', '"studies_riskofbiasjudgmentevent"', '"studies_rob2assessmentevent"', '"studies_rob2domainjudgmentevent"', '"studies_rob2signallinganswerevent"']

APPEND_ONLY = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION audit_context_only_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at OR EXISTS (
        SELECT 1 FROM jsonb_each(OLD.metadata) AS old_key
        WHERE old_key.value <> 'null'::jsonb AND NEW.metadata -> old_key.key IS DISTINCT FROM old_key.value
    ) THEN
        RAISE EXCEPTION 'The audit trail is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_context_only_grows BEFORE UPDATE OR DELETE ON pghistory_context
    FOR EACH ROW EXECUTE FUNCTION audit_context_only_grows();
""" + "".join(
    f"CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {table} "
    f"FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();\n"
    for table in EVENT_TABLES
)

REMOVE_APPEND_ONLY = "".join(f"DROP TRIGGER audit_event_append_only ON {table};\n" for table in EVENT_TABLES) + """
DROP TRIGGER audit_context_only_grows ON pghistory_context;
DROP FUNCTION audit_context_only_grows();
DROP FUNCTION audit_event_append_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('pghistory', '0007_auto_20250421_0444'),
        ('studies', '0006_extraction'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='OutcomeDataEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('n', models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)])),
                ('mean', models.FloatField(blank=True, null=True, validators=[studies.models.validators.validate_finite])),
                ('sd', models.FloatField(blank=True, null=True, validators=[studies.models.validators.validate_positive_sd], verbose_name='SD')),
                ('events', models.PositiveIntegerField(blank=True, null=True)),
                ('total', models.PositiveIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)])),
                ('value_type', models.CharField(choices=[('change', 'Change from baseline'), ('final', 'Final value')], default='change', max_length=10)),
                ('instrument', models.CharField(blank=True, help_text='Scale or instrument, e.g. ISMI.', max_length=200)),
                ('provenance', models.CharField(choices=[('reported', 'Reported'), ('calculated', 'Calculated'), ('imputed', 'Imputed')], default='reported', max_length=12)),
                ('include_in_analysis', models.BooleanField(default=True)),
                ('note', models.TextField(blank=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='ReportEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('is_primary', models.BooleanField(default=False, help_text="The study's main publication.")),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='ReviewEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('title', models.CharField(max_length=300)),
                ('slug', models.SlugField(db_index=False, max_length=100)),
                ('question', models.TextField(blank=True, help_text='The review question.')),
                ('population', models.TextField(blank=True, help_text='PICO: participants.')),
                ('intervention', models.TextField(blank=True, help_text='PICO: intervention.')),
                ('comparison', models.TextField(blank=True, help_text='PICO: comparator.')),
                ('outcomes_summary', models.TextField(blank=True, help_text='PICO: outcomes.', verbose_name='outcomes')),
                ('registration_id', models.CharField(blank=True, help_text='Registration, e.g. PROSPERO CRD42021240000.', max_length=100)),
                ('inclusion_criteria', models.TextField(blank=True)),
                ('exclusion_criteria', models.TextField(blank=True)),
                ('is_public', models.BooleanField(default=False, help_text="Readers without a login can see the review's analysis pages.")),
                ('is_synthetic', models.BooleanField(default=False, help_text='Demo data: every page that shows it says it is synthetic.')),
                ('effect_measure', models.CharField(choices=[('SMD', "Std. mean difference (Hedges' g, RevMan)"), ('SMD_EXACT', "Std. mean difference (Hedges' g, exact)"), ('MD', 'Mean difference'), ('OR', 'Odds ratio'), ('RR', 'Risk ratio'), ('RD', 'Risk difference')], default='SMD', help_text='Default effect measure for new continuous outcomes.', max_length=10)),
                ('model_rule', models.CharField(choices=[('fixed', 'Fixed effect'), ('random', 'Random effects'), ('auto', 'Automatic: random when I² ≥ threshold')], default='auto', max_length=10)),
                ('i2_threshold', models.FloatField(default=50.0, help_text='With the automatic rule: random effects when I² is at least this.', validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(100.0)], verbose_name='I² threshold (%)')),
                ('tau2_estimator', models.CharField(choices=[('DL', 'DerSimonian–Laird'), ('REML', 'Restricted maximum likelihood'), ('PM', 'Paule–Mandel')], default='DL', max_length=10, verbose_name='τ² estimator')),
                ('hartung_knapp', models.BooleanField(default=False, help_text='Random-effects CI from a t distribution on k−1 df.', verbose_name='Hartung–Knapp–Sidik–Jonkman CI')),
                ('confidence_level', models.FloatField(default=0.95, validators=[django.core.validators.MinValueValidator(0.5), django.core.validators.MaxValueValidator(0.999)])),
                ('funnel_min_studies', models.PositiveSmallIntegerField(default=10, help_text="Funnel plots and Egger's test are shown from this many studies (Cochrane Handbook 13.3.5.4).", validators=[django.core.validators.MinValueValidator(3)], verbose_name='minimum studies for a funnel plot')),
                ('rob_tool', models.CharField(choices=[('ROB1', 'Cochrane RoB 1 (per study)'), ('ROB2', 'RoB 2, individually randomised parallel-group trials (per result)')], default='ROB1', help_text='The tool whose consensus judgments the figures and the risk-of-bias sensitivity analyses use.', max_length=10, verbose_name='risk-of-bias tool')),
                ('rob1_key_domains', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('random_sequence', 'Random sequence generation'), ('allocation_concealment', 'Allocation concealment'), ('blinding_participants', 'Blinding of participants and personnel'), ('blinding_outcome', 'Blinding of outcome assessment'), ('incomplete_data', 'Incomplete outcome data'), ('selective_reporting', 'Selective reporting'), ('other', 'Other bias')], max_length=30), blank=True, default=studies.models.reviews.rob1_default_key_domains, help_text='RoB 1: a study is at low risk overall when low in all of these, high when high in any (Cochrane Handbook 5.1, 8.7).', size=None, verbose_name='RoB 1 key domains')),
                ('fulltext_reason_conflict', models.BooleanField(default=True, help_text='When both screeners exclude a full text for different reasons, a tutor decides the reason.', verbose_name='different full-text exclusion reasons are a conflict')),
                ('include_terms', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=100), blank=True, default=list, help_text='Words highlighted in green on the screening page (e.g. randomised, peer). Comma-separated.', size=None)),
                ('exclude_terms', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=100), blank=True, default=list, help_text='Words highlighted in red on the screening page (e.g. qualitative, protocol). Comma-separated.', size=None)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='RiskOfBiasAssessmentEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('is_consensus', models.BooleanField(default=False)),
                ('submitted_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='RiskOfBiasJudgmentEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('domain', models.CharField(choices=[('random_sequence', 'Random sequence generation (selection bias)'), ('allocation_concealment', 'Allocation concealment (selection bias)'), ('blinding_participants', 'Blinding of participants and personnel (performance bias)'), ('blinding_outcome', 'Blinding of outcome assessment (detection bias)'), ('incomplete_data', 'Incomplete outcome data (attrition bias)'), ('selective_reporting', 'Selective reporting (reporting bias)'), ('other', 'Other bias')], max_length=30)),
                ('judgment', models.CharField(choices=[('low', 'Low risk'), ('unclear', 'Unclear risk'), ('high', 'High risk')], max_length=10)),
                ('support', models.TextField(blank=True, help_text='Quote from the report and the reason for the judgment.')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='Rob2AssessmentEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('is_consensus', models.BooleanField(default=False)),
                ('submitted_at', models.DateTimeField(blank=True, null=True)),
                ('overall_proposed', models.CharField(blank=True, choices=[('low', 'Low risk'), ('some_concerns', 'Some concerns'), ('high', 'High risk')], help_text='Proposed by the RoB 2 algorithm from the domain judgments (empty while incomplete).', max_length=16)),
                ('overall_override', models.CharField(blank=True, choices=[('low', 'Low risk'), ('some_concerns', 'Some concerns'), ('high', 'High risk')], max_length=16)),
                ('overall_justification', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='Rob2DomainJudgmentEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('domain', models.CharField(choices=[('randomisation', 'D1 Randomisation process'), ('deviations', 'D2 Deviations from intended interventions'), ('missing_data', 'D3 Missing outcome data'), ('measurement', 'D4 Measurement of the outcome'), ('selection', 'D5 Selection of the reported result')], max_length=16)),
                ('proposed', models.CharField(blank=True, choices=[('low', 'Low risk'), ('some_concerns', 'Some concerns'), ('high', 'High risk')], help_text='Proposed by the algorithm (empty while the answers are incomplete).', max_length=16)),
                ('override', models.CharField(blank=True, choices=[('low', 'Low risk'), ('some_concerns', 'Some concerns'), ('high', 'High risk')], max_length=16)),
                ('justification', models.TextField(blank=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='Rob2SignallingAnswerEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('question', models.CharField(choices=[('1.1', '1.1'), ('1.2', '1.2'), ('1.3', '1.3'), ('2.1', '2.1'), ('2.2', '2.2'), ('2.3', '2.3'), ('2.4', '2.4'), ('2.5', '2.5'), ('2.6', '2.6'), ('2.7', '2.7'), ('3.1', '3.1'), ('3.2', '3.2'), ('3.3', '3.3'), ('3.4', '3.4'), ('4.1', '4.1'), ('4.2', '4.2'), ('4.3', '4.3'), ('4.4', '4.4'), ('4.5', '4.5'), ('5.1', '5.1'), ('5.2', '5.2'), ('5.3', '5.3')], max_length=4)),
                ('answer', models.CharField(choices=[('Y', 'Yes'), ('PY', 'Probably yes'), ('PN', 'Probably no'), ('N', 'No'), ('NI', 'No information'), ('NA', 'Not applicable')], max_length=2)),
                ('comment', models.TextField(blank=True, help_text='Quote from the report and the reason for the answer.')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='ScreeningDecisionEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('stage', models.CharField(choices=[('title_abstract', 'Title and abstract'), ('full_text', 'Full text')], max_length=20)),
                ('decision', models.CharField(choices=[('include', 'Include'), ('exclude', 'Exclude'), ('unsure', 'Unsure')], max_length=10)),
                ('note', models.TextField(blank=True)),
                ('decided_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='ScreeningResolutionEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('stage', models.CharField(choices=[('title_abstract', 'Title and abstract'), ('full_text', 'Full text')], max_length=20)),
                ('decision', models.CharField(choices=[('include', 'Include'), ('exclude', 'Exclude')], max_length=10)),
                ('rationale', models.TextField(help_text='Why the tutor decided so.')),
                ('resolved_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='StudyEvent',
            fields=[
                ('pgh_id', models.AutoField(primary_key=True, serialize=False)),
                ('pgh_created_at', models.DateTimeField(auto_now_add=True)),
                ('pgh_label', models.TextField(help_text='The event label.')),
                ('id', models.BigIntegerField()),
                ('label', models.CharField(help_text="Short label as in a forest plot, e.g. 'Smith 2019'.", max_length=100)),
                ('year', models.PositiveSmallIntegerField(blank=True, null=True, validators=[studies.models.validators.validate_year])),
                ('is_included', models.BooleanField(default=True, help_text="Included in the review's analyses. Excluding keeps the data.")),
                ('notes', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'abstract': False,
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='outcomedata',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_outcomedataevent" ("arm_id", "events", "id", "include_in_analysis", "instrument", "mean", "n", "note", "outcome_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "provenance", "sd", "study_id", "time_point_id", "total", "updated_at", "value_type") VALUES (NEW."arm_id", NEW."events", NEW."id", NEW."include_in_analysis", NEW."instrument", NEW."mean", NEW."n", NEW."note", NEW."outcome_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."provenance", NEW."sd", NEW."study_id", NEW."time_point_id", NEW."total", NEW."updated_at", NEW."value_type"); RETURN NULL;', hash='90abd948ad756d30a44f981ad4e87ae8dc213745', operation='INSERT', pgid='pgtrigger_insert_insert_5e2ff', table='studies_outcomedata', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='outcomedata',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_outcomedataevent" ("arm_id", "events", "id", "include_in_analysis", "instrument", "mean", "n", "note", "outcome_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "provenance", "sd", "study_id", "time_point_id", "total", "updated_at", "value_type") VALUES (NEW."arm_id", NEW."events", NEW."id", NEW."include_in_analysis", NEW."instrument", NEW."mean", NEW."n", NEW."note", NEW."outcome_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."provenance", NEW."sd", NEW."study_id", NEW."time_point_id", NEW."total", NEW."updated_at", NEW."value_type"); RETURN NULL;', hash='a463bb0a2df4b0fc29c584785817a5355ec15146', operation='UPDATE', pgid='pgtrigger_update_update_8490d', table='studies_outcomedata', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='outcomedata',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_outcomedataevent" ("arm_id", "events", "id", "include_in_analysis", "instrument", "mean", "n", "note", "outcome_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "provenance", "sd", "study_id", "time_point_id", "total", "updated_at", "value_type") VALUES (OLD."arm_id", OLD."events", OLD."id", OLD."include_in_analysis", OLD."instrument", OLD."mean", OLD."n", OLD."note", OLD."outcome_id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."provenance", OLD."sd", OLD."study_id", OLD."time_point_id", OLD."total", OLD."updated_at", OLD."value_type"); RETURN NULL;', hash='1249b3200e1a4eae7642b8b954fa237cf827953e', operation='DELETE', pgid='pgtrigger_delete_delete_3f234', table='studies_outcomedata', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='report',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_reportevent" ("id", "is_primary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "study_id") VALUES (NEW."id", NEW."is_primary", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."record_id", NEW."study_id"); RETURN NULL;', hash='99231b913f1217c4f1d46d1ab5068298b12dab2c', operation='INSERT', pgid='pgtrigger_insert_insert_01c4d', table='studies_report', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='report',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_reportevent" ("id", "is_primary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "study_id") VALUES (NEW."id", NEW."is_primary", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."record_id", NEW."study_id"); RETURN NULL;', hash='b4f3a2c935ae9fa7db55e79892d0d4bce4196ae3', operation='UPDATE', pgid='pgtrigger_update_update_3f9c8', table='studies_report', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='report',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_reportevent" ("id", "is_primary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "study_id") VALUES (OLD."id", OLD."is_primary", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."record_id", OLD."study_id"); RETURN NULL;', hash='4055609eb0288acb591166fded518e1a25340001', operation='DELETE', pgid='pgtrigger_delete_delete_58558', table='studies_report', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='review',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_reviewevent" ("comparison", "confidence_level", "created_at", "effect_measure", "exclude_terms", "exclusion_criteria", "fulltext_reason_conflict", "funnel_min_studies", "hartung_knapp", "i2_threshold", "id", "include_terms", "inclusion_criteria", "intervention", "is_public", "is_synthetic", "model_rule", "outcomes_summary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "population", "question", "registration_id", "rob1_key_domains", "rob_tool", "slug", "tau2_estimator", "title") VALUES (NEW."comparison", NEW."confidence_level", NEW."created_at", NEW."effect_measure", NEW."exclude_terms", NEW."exclusion_criteria", NEW."fulltext_reason_conflict", NEW."funnel_min_studies", NEW."hartung_knapp", NEW."i2_threshold", NEW."id", NEW."include_terms", NEW."inclusion_criteria", NEW."intervention", NEW."is_public", NEW."is_synthetic", NEW."model_rule", NEW."outcomes_summary", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."population", NEW."question", NEW."registration_id", NEW."rob1_key_domains", NEW."rob_tool", NEW."slug", NEW."tau2_estimator", NEW."title"); RETURN NULL;', hash='c054f09143e4a51e8f3fc6eed21da6bc8b56a1fe', operation='INSERT', pgid='pgtrigger_insert_insert_b8dfd', table='studies_review', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='review',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."comparison" IS DISTINCT FROM (NEW."comparison") OR OLD."confidence_level" IS DISTINCT FROM (NEW."confidence_level") OR OLD."created_at" IS DISTINCT FROM (NEW."created_at") OR OLD."effect_measure" IS DISTINCT FROM (NEW."effect_measure") OR OLD."exclude_terms" IS DISTINCT FROM (NEW."exclude_terms") OR OLD."exclusion_criteria" IS DISTINCT FROM (NEW."exclusion_criteria") OR OLD."fulltext_reason_conflict" IS DISTINCT FROM (NEW."fulltext_reason_conflict") OR OLD."funnel_min_studies" IS DISTINCT FROM (NEW."funnel_min_studies") OR OLD."hartung_knapp" IS DISTINCT FROM (NEW."hartung_knapp") OR OLD."i2_threshold" IS DISTINCT FROM (NEW."i2_threshold") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."include_terms" IS DISTINCT FROM (NEW."include_terms") OR OLD."inclusion_criteria" IS DISTINCT FROM (NEW."inclusion_criteria") OR OLD."intervention" IS DISTINCT FROM (NEW."intervention") OR OLD."is_public" IS DISTINCT FROM (NEW."is_public") OR OLD."is_synthetic" IS DISTINCT FROM (NEW."is_synthetic") OR OLD."model_rule" IS DISTINCT FROM (NEW."model_rule") OR OLD."outcomes_summary" IS DISTINCT FROM (NEW."outcomes_summary") OR OLD."population" IS DISTINCT FROM (NEW."population") OR OLD."question" IS DISTINCT FROM (NEW."question") OR OLD."registration_id" IS DISTINCT FROM (NEW."registration_id") OR OLD."rob1_key_domains" IS DISTINCT FROM (NEW."rob1_key_domains") OR OLD."rob_tool" IS DISTINCT FROM (NEW."rob_tool") OR OLD."slug" IS DISTINCT FROM (NEW."slug") OR OLD."tau2_estimator" IS DISTINCT FROM (NEW."tau2_estimator") OR OLD."title" IS DISTINCT FROM (NEW."title"))', func='INSERT INTO "studies_reviewevent" ("comparison", "confidence_level", "created_at", "effect_measure", "exclude_terms", "exclusion_criteria", "fulltext_reason_conflict", "funnel_min_studies", "hartung_knapp", "i2_threshold", "id", "include_terms", "inclusion_criteria", "intervention", "is_public", "is_synthetic", "model_rule", "outcomes_summary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "population", "question", "registration_id", "rob1_key_domains", "rob_tool", "slug", "tau2_estimator", "title") VALUES (NEW."comparison", NEW."confidence_level", NEW."created_at", NEW."effect_measure", NEW."exclude_terms", NEW."exclusion_criteria", NEW."fulltext_reason_conflict", NEW."funnel_min_studies", NEW."hartung_knapp", NEW."i2_threshold", NEW."id", NEW."include_terms", NEW."inclusion_criteria", NEW."intervention", NEW."is_public", NEW."is_synthetic", NEW."model_rule", NEW."outcomes_summary", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."population", NEW."question", NEW."registration_id", NEW."rob1_key_domains", NEW."rob_tool", NEW."slug", NEW."tau2_estimator", NEW."title"); RETURN NULL;', hash='024c41dd3c3c0619d25e70af34999816abc8b44c', operation='UPDATE', pgid='pgtrigger_update_update_8b5a6', table='studies_review', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='review',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_reviewevent" ("comparison", "confidence_level", "created_at", "effect_measure", "exclude_terms", "exclusion_criteria", "fulltext_reason_conflict", "funnel_min_studies", "hartung_knapp", "i2_threshold", "id", "include_terms", "inclusion_criteria", "intervention", "is_public", "is_synthetic", "model_rule", "outcomes_summary", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "population", "question", "registration_id", "rob1_key_domains", "rob_tool", "slug", "tau2_estimator", "title") VALUES (OLD."comparison", OLD."confidence_level", OLD."created_at", OLD."effect_measure", OLD."exclude_terms", OLD."exclusion_criteria", OLD."fulltext_reason_conflict", OLD."funnel_min_studies", OLD."hartung_knapp", OLD."i2_threshold", OLD."id", OLD."include_terms", OLD."inclusion_criteria", OLD."intervention", OLD."is_public", OLD."is_synthetic", OLD."model_rule", OLD."outcomes_summary", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."population", OLD."question", OLD."registration_id", OLD."rob1_key_domains", OLD."rob_tool", OLD."slug", OLD."tau2_estimator", OLD."title"); RETURN NULL;', hash='ba033058502b99db0f9f77ba5d206bfdaecf1213', operation='DELETE', pgid='pgtrigger_delete_delete_ed372', table='studies_review', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasassessment',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_riskofbiasassessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (NEW."assessor_id", NEW."created_at", NEW."id", NEW."is_consensus", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."study_id", NEW."submitted_at", NEW."updated_at"); RETURN NULL;', hash='ca59183cb68346441d316d1ae28f2eca31e71d0e', operation='INSERT', pgid='pgtrigger_insert_insert_1050e', table='studies_riskofbiasassessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasassessment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_riskofbiasassessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (NEW."assessor_id", NEW."created_at", NEW."id", NEW."is_consensus", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."study_id", NEW."submitted_at", NEW."updated_at"); RETURN NULL;', hash='b5abc0d8522557c5dbbf3ae2b031e94a2425d335', operation='UPDATE', pgid='pgtrigger_update_update_92f5b', table='studies_riskofbiasassessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasassessment',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_riskofbiasassessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (OLD."assessor_id", OLD."created_at", OLD."id", OLD."is_consensus", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."study_id", OLD."submitted_at", OLD."updated_at"); RETURN NULL;', hash='aabf649179d1ab78883d59d5a2b8bdb7a77f2087', operation='DELETE', pgid='pgtrigger_delete_delete_231d0', table='studies_riskofbiasassessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasjudgment',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_riskofbiasjudgmentevent" ("assessment_id", "domain", "id", "judgment", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "support") VALUES (NEW."assessment_id", NEW."domain", NEW."id", NEW."judgment", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."support"); RETURN NULL;', hash='527b94a9f14f3e824225b6c7d26884e19673d2ef', operation='INSERT', pgid='pgtrigger_insert_insert_8cf16', table='studies_riskofbiasjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasjudgment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_riskofbiasjudgmentevent" ("assessment_id", "domain", "id", "judgment", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "support") VALUES (NEW."assessment_id", NEW."domain", NEW."id", NEW."judgment", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."support"); RETURN NULL;', hash='a5e074ada47e3c0e3ae1773de0b002e3830448eb', operation='UPDATE', pgid='pgtrigger_update_update_e9d9e', table='studies_riskofbiasjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='riskofbiasjudgment',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_riskofbiasjudgmentevent" ("assessment_id", "domain", "id", "judgment", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "support") VALUES (OLD."assessment_id", OLD."domain", OLD."id", OLD."judgment", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."support"); RETURN NULL;', hash='1f0e0205af52ad3c971c10d903029108cda8c1cf', operation='DELETE', pgid='pgtrigger_delete_delete_e8a23', table='studies_riskofbiasjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2assessment',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2assessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "outcome_id", "overall_justification", "overall_override", "overall_proposed", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (NEW."assessor_id", NEW."created_at", NEW."id", NEW."is_consensus", NEW."outcome_id", NEW."overall_justification", NEW."overall_override", NEW."overall_proposed", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."study_id", NEW."submitted_at", NEW."updated_at"); RETURN NULL;', hash='10244e178780dfc74fd634107c44a29772f1e06b', operation='INSERT', pgid='pgtrigger_insert_insert_8e928', table='studies_rob2assessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2assessment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_rob2assessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "outcome_id", "overall_justification", "overall_override", "overall_proposed", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (NEW."assessor_id", NEW."created_at", NEW."id", NEW."is_consensus", NEW."outcome_id", NEW."overall_justification", NEW."overall_override", NEW."overall_proposed", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."study_id", NEW."submitted_at", NEW."updated_at"); RETURN NULL;', hash='ec9e2d50b79488e441285745bca54b91dcaa6bed', operation='UPDATE', pgid='pgtrigger_update_update_5fd7f', table='studies_rob2assessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2assessment',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2assessmentevent" ("assessor_id", "created_at", "id", "is_consensus", "outcome_id", "overall_justification", "overall_override", "overall_proposed", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "study_id", "submitted_at", "updated_at") VALUES (OLD."assessor_id", OLD."created_at", OLD."id", OLD."is_consensus", OLD."outcome_id", OLD."overall_justification", OLD."overall_override", OLD."overall_proposed", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."study_id", OLD."submitted_at", OLD."updated_at"); RETURN NULL;', hash='690e5e82208a6e59fea12e316fa84e4f3f62b9ed', operation='DELETE', pgid='pgtrigger_delete_delete_94b86', table='studies_rob2assessment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2domainjudgment',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2domainjudgmentevent" ("assessment_id", "domain", "id", "justification", "override", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "proposed") VALUES (NEW."assessment_id", NEW."domain", NEW."id", NEW."justification", NEW."override", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."proposed"); RETURN NULL;', hash='61089efbc2a7380e83652748cdb58e6cfaac2275', operation='INSERT', pgid='pgtrigger_insert_insert_2e959', table='studies_rob2domainjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2domainjudgment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_rob2domainjudgmentevent" ("assessment_id", "domain", "id", "justification", "override", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "proposed") VALUES (NEW."assessment_id", NEW."domain", NEW."id", NEW."justification", NEW."override", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."proposed"); RETURN NULL;', hash='51c4109a91d23344cac04e757401803186fe25a8', operation='UPDATE', pgid='pgtrigger_update_update_f30a9', table='studies_rob2domainjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2domainjudgment',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2domainjudgmentevent" ("assessment_id", "domain", "id", "justification", "override", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "proposed") VALUES (OLD."assessment_id", OLD."domain", OLD."id", OLD."justification", OLD."override", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."proposed"); RETURN NULL;', hash='4eb346f2ec828c33142709e837c4df017984fa43', operation='DELETE', pgid='pgtrigger_delete_delete_2e91b', table='studies_rob2domainjudgment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2signallinganswer',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2signallinganswerevent" ("answer", "assessment_id", "comment", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "question") VALUES (NEW."answer", NEW."assessment_id", NEW."comment", NEW."id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."question"); RETURN NULL;', hash='1528e33861a9a67c9efc9b0e2f0601a307b92ecf', operation='INSERT', pgid='pgtrigger_insert_insert_e51fc', table='studies_rob2signallinganswer', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2signallinganswer',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_rob2signallinganswerevent" ("answer", "assessment_id", "comment", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "question") VALUES (NEW."answer", NEW."assessment_id", NEW."comment", NEW."id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."question"); RETURN NULL;', hash='8dc4774646e85c6cdc0ae89c3661e781670d2cea', operation='UPDATE', pgid='pgtrigger_update_update_725cd', table='studies_rob2signallinganswer', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='rob2signallinganswer',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_rob2signallinganswerevent" ("answer", "assessment_id", "comment", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "question") VALUES (OLD."answer", OLD."assessment_id", OLD."comment", OLD."id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."question"); RETURN NULL;', hash='d2c09428c526fdf7290fc0165fa9edbec4f7dbc3', operation='DELETE', pgid='pgtrigger_delete_delete_d4dbf', table='studies_rob2signallinganswer', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningdecision',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_screeningdecisionevent" ("decided_at", "decision", "exclusion_reason_id", "id", "note", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "screener_id", "stage", "updated_at") VALUES (NEW."decided_at", NEW."decision", NEW."exclusion_reason_id", NEW."id", NEW."note", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."record_id", NEW."screener_id", NEW."stage", NEW."updated_at"); RETURN NULL;', hash='4a37ed252e87b2a69b393c00c5cdd000cf7e6e8b', operation='INSERT', pgid='pgtrigger_insert_insert_75f48', table='studies_screeningdecision', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningdecision',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_screeningdecisionevent" ("decided_at", "decision", "exclusion_reason_id", "id", "note", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "screener_id", "stage", "updated_at") VALUES (NEW."decided_at", NEW."decision", NEW."exclusion_reason_id", NEW."id", NEW."note", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."record_id", NEW."screener_id", NEW."stage", NEW."updated_at"); RETURN NULL;', hash='8af055d5c9d41db416558cd88af54d442e0d4275', operation='UPDATE', pgid='pgtrigger_update_update_f9807', table='studies_screeningdecision', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningdecision',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_screeningdecisionevent" ("decided_at", "decision", "exclusion_reason_id", "id", "note", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "record_id", "screener_id", "stage", "updated_at") VALUES (OLD."decided_at", OLD."decision", OLD."exclusion_reason_id", OLD."id", OLD."note", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."record_id", OLD."screener_id", OLD."stage", OLD."updated_at"); RETURN NULL;', hash='76e84b544a99505052b6d25c01244767af32512a', operation='DELETE', pgid='pgtrigger_delete_delete_91069', table='studies_screeningdecision', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningresolution',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_screeningresolutionevent" ("decision", "exclusion_reason_id", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "rationale", "record_id", "resolved_at", "stage", "tutor_id") VALUES (NEW."decision", NEW."exclusion_reason_id", NEW."id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."rationale", NEW."record_id", NEW."resolved_at", NEW."stage", NEW."tutor_id"); RETURN NULL;', hash='40a073978f74e5a570286fa361c68d1614f86263', operation='INSERT', pgid='pgtrigger_insert_insert_f3f00', table='studies_screeningresolution', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningresolution',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_screeningresolutionevent" ("decision", "exclusion_reason_id", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "rationale", "record_id", "resolved_at", "stage", "tutor_id") VALUES (NEW."decision", NEW."exclusion_reason_id", NEW."id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."rationale", NEW."record_id", NEW."resolved_at", NEW."stage", NEW."tutor_id"); RETURN NULL;', hash='09e8fa4516ac95fde2df1b42ac708b8f93f9c553', operation='UPDATE', pgid='pgtrigger_update_update_4965a', table='studies_screeningresolution', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='screeningresolution',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_screeningresolutionevent" ("decision", "exclusion_reason_id", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "rationale", "record_id", "resolved_at", "stage", "tutor_id") VALUES (OLD."decision", OLD."exclusion_reason_id", OLD."id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."rationale", OLD."record_id", OLD."resolved_at", OLD."stage", OLD."tutor_id"); RETURN NULL;', hash='c1cabe53769902fa68ced1a2d2451baa38e92a8c', operation='DELETE', pgid='pgtrigger_delete_delete_4dd62', table='studies_screeningresolution', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='study',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_studyevent" ("created_at", "id", "is_included", "label", "notes", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "review_id", "year") VALUES (NEW."created_at", NEW."id", NEW."is_included", NEW."label", NEW."notes", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."review_id", NEW."year"); RETURN NULL;', hash='abebd3fc18263b6e6a48a74e3e931b685069af44', operation='INSERT', pgid='pgtrigger_insert_insert_f60b6', table='studies_study', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='study',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD.* IS DISTINCT FROM NEW.*)', func='INSERT INTO "studies_studyevent" ("created_at", "id", "is_included", "label", "notes", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "review_id", "year") VALUES (NEW."created_at", NEW."id", NEW."is_included", NEW."label", NEW."notes", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."review_id", NEW."year"); RETURN NULL;', hash='a634bd1c59d1b4fec76312cc1d78ab5f6f77f52f', operation='UPDATE', pgid='pgtrigger_update_update_8013b', table='studies_study', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='study',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "studies_studyevent" ("created_at", "id", "is_included", "label", "notes", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "review_id", "year") VALUES (OLD."created_at", OLD."id", OLD."is_included", OLD."label", OLD."notes", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."review_id", OLD."year"); RETURN NULL;', hash='9d8d427e2d0e3d8b708978109910e8341f39d0e0', operation='DELETE', pgid='pgtrigger_delete_delete_6aa33', table='studies_study', when='AFTER')),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='arm',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.arm'),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='outcome',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.outcome'),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.outcomedata'),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='study',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.study'),
        ),
        migrations.AddField(
            model_name='outcomedataevent',
            name='time_point',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.timepoint'),
        ),
        migrations.AddField(
            model_name='reportevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='reportevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.report'),
        ),
        migrations.AddField(
            model_name='reportevent',
            name='record',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.record'),
        ),
        migrations.AddField(
            model_name='reportevent',
            name='study',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.study'),
        ),
        migrations.AddField(
            model_name='reviewevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='reviewevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.review'),
        ),
        migrations.AddField(
            model_name='riskofbiasassessmentevent',
            name='assessor',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='riskofbiasassessmentevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='riskofbiasassessmentevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.riskofbiasassessment'),
        ),
        migrations.AddField(
            model_name='riskofbiasassessmentevent',
            name='study',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.study'),
        ),
        migrations.AddField(
            model_name='riskofbiasjudgmentevent',
            name='assessment',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.riskofbiasassessment'),
        ),
        migrations.AddField(
            model_name='riskofbiasjudgmentevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='riskofbiasjudgmentevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.riskofbiasjudgment'),
        ),
        migrations.AddField(
            model_name='rob2assessmentevent',
            name='assessor',
            field=models.ForeignKey(db_constraint=False, help_text='For the consensus: who recorded it.', on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='rob2assessmentevent',
            name='outcome',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.outcome'),
        ),
        migrations.AddField(
            model_name='rob2assessmentevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='rob2assessmentevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.rob2assessment'),
        ),
        migrations.AddField(
            model_name='rob2assessmentevent',
            name='study',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.study'),
        ),
        migrations.AddField(
            model_name='rob2domainjudgmentevent',
            name='assessment',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.rob2assessment'),
        ),
        migrations.AddField(
            model_name='rob2domainjudgmentevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='rob2domainjudgmentevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.rob2domainjudgment'),
        ),
        migrations.AddField(
            model_name='rob2signallinganswerevent',
            name='assessment',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.rob2assessment'),
        ),
        migrations.AddField(
            model_name='rob2signallinganswerevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='rob2signallinganswerevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.rob2signallinganswer'),
        ),
        migrations.AddField(
            model_name='screeningdecisionevent',
            name='exclusion_reason',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.exclusionreason'),
        ),
        migrations.AddField(
            model_name='screeningdecisionevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='screeningdecisionevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.screeningdecision'),
        ),
        migrations.AddField(
            model_name='screeningdecisionevent',
            name='record',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.record'),
        ),
        migrations.AddField(
            model_name='screeningdecisionevent',
            name='screener',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='screeningresolutionevent',
            name='exclusion_reason',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.exclusionreason'),
        ),
        migrations.AddField(
            model_name='screeningresolutionevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='screeningresolutionevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.screeningresolution'),
        ),
        migrations.AddField(
            model_name='screeningresolutionevent',
            name='record',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.record'),
        ),
        migrations.AddField(
            model_name='screeningresolutionevent',
            name='tutor',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='studyevent',
            name='pgh_context',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='pghistory.context'),
        ),
        migrations.AddField(
            model_name='studyevent',
            name='pgh_obj',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='studies.study'),
        ),
        migrations.AddField(
            model_name='studyevent',
            name='review',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', related_query_name='+', to='studies.review'),
        ),
        migrations.RunSQL(APPEND_ONLY, REMOVE_APPEND_ONLY),
    ]
