"""The per-minute rate of synchronous cut-outs is counted by accounts.throttle (one limiter for
every rate), so CutoutUsage no longer keeps its own window."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("extraction", "0012_choices_from_survey_table"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="cutoutusage",
            name="window_count",
        ),
        migrations.RemoveField(
            model_name="cutoutusage",
            name="window_start",
        ),
    ]
