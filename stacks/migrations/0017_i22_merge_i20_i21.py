from django.db import migrations


class Migration(migrations.Migration):
    """Merges issue 20's and issue 21's migrations (both numbered 0016) so issue 22 builds on both."""

    dependencies = [
        ('stacks', '0016_i20_host_consent_scoped_secrets'),
        ('stacks', '0016_i21_versions'),
    ]

    operations = []
