# A delivery keeps the ids of the alerts it carried in one JSON array of its own
# row instead of a link row per alert (what dominated storing a 100-alert
# payload). PostgreSQL finds an alert's deliveries with `alert_ids @> '[id]'` on
# a GIN index; SQLite scans the arrays.

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
# fastupdate off: GIN's pending list would be read in full by every alert page
# until vacuum merges it.
GIN = ("CREATE INDEX delivery_alerts ON stacks_alertdelivery USING gin (alert_ids jsonb_path_ops) "
       "WITH (fastupdate = off)")


def _run(statements):
    def run(apps, schema_editor):
        sql = statements.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('stacks', '0011_i10_host_access_audit'),
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
        migrations.RunPython(_run({"postgresql": GIN}),
                             _run({"postgresql": "DROP INDEX delivery_alerts"})),
    ]
