from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stacks", "0011_i10_host_access_audit")]

    operations = [
        migrations.AddField(
            model_name="servicehealth",
            name="replicas",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
