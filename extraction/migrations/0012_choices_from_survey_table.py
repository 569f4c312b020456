"""The survey, band, mode and compression choices are read from the survey table at run time
(callables in extraction.models): the values frozen by 0001 go, and a new row of
extraction.core.surveys needs no migration. No schema change (choices live only in Python)."""

from django.db import migrations, models

import extraction.models


class Migration(migrations.Migration):
    dependencies = [
        ("extraction", "0011_resolved_name_cache"),
    ]

    operations = [
        migrations.AlterField(
            model_name="field",
            name="compression",
            field=models.CharField(choices=extraction.models.compression_choices, max_length=1),
        ),
        migrations.AlterField(
            model_name="field",
            name="mode",
            field=models.CharField(choices=extraction.models.mode_choices, max_length=5),
        ),
        migrations.AlterField(
            model_name="plate",
            name="band",
            field=models.CharField(
                blank=True, choices=extraction.models.band_choices, max_length=1
            ),
        ),
        migrations.AlterField(
            model_name="plate",
            name="survey",
            field=models.CharField(choices=extraction.models.survey_choices, max_length=4),
        ),
    ]
