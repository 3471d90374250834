# The verbs an operation may name live in one registry (stacks.operations.verbs),
# not in the field's choices: a new verb is one entry. No database change.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stacks", "0014_i13_alert_writes")]

    operations = [
        migrations.AlterField(model_name="deployment", name="action", field=models.CharField(default="deploy", max_length=10)),
    ]
