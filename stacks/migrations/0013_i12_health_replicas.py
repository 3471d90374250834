from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stacks", "0012_i9_adoption_rows")]

    operations = [
        migrations.AddField(
            model_name="servicehealth",
            name="replicas",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
