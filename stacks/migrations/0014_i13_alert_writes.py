# What the webhook writes per alert, made smaller:
# - a delivery keeps the ids of the alerts it carried in one JSON array of its own
#   row instead of a link row per alert (what dominated storing a 100-alert
#   payload); PostgreSQL finds an alert's deliveries with `alert_ids @> '[id]'`
#   on a GIN index, SQLite scans the arrays;
# - two indexes fewer for each alert: the firing ones are indexed apart, by stack
#   and start (the overview's counts, the firing filter), the resolved ones are
#   read from alert_recent; acknowledged_by only where there is one;
# - an alert's stack and service are links without a database constraint (see
#   Alert.stack): no trigger per stored alert;
# - GIN indexes gather new entries in a short pending list (256 kB, what a search
#   reads on top of the index until vacuum merges it) rather than inserting
#   each entry into the index at once.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TO_ARRAYS = {
    "postgresql": """
        UPDATE stacks_alertdelivery d SET alert_ids = COALESCE(
            (SELECT jsonb_agg(l.alert_id ORDER BY l.alert_id) FROM stacks_alertdelivery_alerts l
             WHERE l.alertdelivery_id = d.id), '[]'::jsonb)""",
    "sqlite": """
        UPDATE stacks_alertdelivery SET alert_ids = COALESCE(
            (SELECT json_group_array(alert_id) FROM
                (SELECT l.alert_id FROM stacks_alertdelivery_alerts l
                 WHERE l.alertdelivery_id = stacks_alertdelivery.id ORDER BY l.alert_id)), '[]')""",
}
TO_LINKS = {
    "postgresql": """
        INSERT INTO stacks_alertdelivery_alerts (alertdelivery_id, alert_id)
        SELECT d.id, e.value::bigint FROM stacks_alertdelivery d, jsonb_array_elements_text(d.alert_ids) e
        WHERE EXISTS (SELECT 1 FROM stacks_alert a WHERE a.id = e.value::bigint)""",
    "sqlite": """
        INSERT INTO stacks_alertdelivery_alerts (alertdelivery_id, alert_id)
        SELECT d.id, e.value FROM stacks_alertdelivery d, json_each(d.alert_ids) e
        WHERE EXISTS (SELECT 1 FROM stacks_alert a WHERE a.id = e.value)""",
}
PENDING = "fastupdate = on, gin_pending_list_limit = 256"
GIN = {
    "postgresql": f"""
        CREATE INDEX delivery_alerts ON stacks_alertdelivery USING gin (alert_ids jsonb_path_ops) WITH ({PENDING});
        ALTER INDEX alert_search SET ({PENDING});""",
}
NO_GIN = {
    "postgresql": """
        DROP INDEX delivery_alerts;
        ALTER INDEX alert_search SET (fastupdate = off); ALTER INDEX alert_search RESET (gin_pending_list_limit);""",
}


def _run(statements):
    def run(apps, schema_editor):
        sql = statements.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('stacks', '0013_i12_health_replicas'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='alertdelivery',
            name='alert_ids',
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(_run(TO_ARRAYS), _run(TO_LINKS)),
        migrations.RemoveField(
            model_name='alertdelivery',
            name='alerts',
        ),
        migrations.RunPython(_run(GIN), _run(NO_GIN)),
        migrations.RemoveIndex(
            model_name='alert',
            name='alert_status_recent',
        ),
        migrations.RemoveIndex(
            model_name='alert',
            name='alert_firing_stack',
        ),
        migrations.AlterField(
            model_name='alert',
            name='acknowledged_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='alert',
            index=models.Index(condition=models.Q(('status', 'firing')), fields=['stack', '-starts_at'], name='alert_firing'),
        ),
        migrations.AddIndex(
            model_name='alert',
            index=models.Index(condition=models.Q(('acknowledged_by__isnull', False)), fields=['acknowledged_by'], name='alert_acknowledged_by'),
        ),
        migrations.AlterField(
            model_name='alert',
            name='service',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='stacks.service'),
        ),
        migrations.AlterField(
            model_name='alert',
            name='stack',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='stacks.stack'),
        ),
    ]
