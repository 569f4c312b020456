from django.db import migrations, models

# The messages cancelled fields carried before the reason had a column of its own.
_REASON_OF_MESSAGE = {
    "cancelled at the owner's request": "owner",
    "cancelled by the archive staff": "staff",
}


def reasons_from_messages(apps, schema_editor):
    Field = apps.get_model("extraction", "Field")
    cancelled = Field.objects.filter(status="cancelled")
    for message, reason in _REASON_OF_MESSAGE.items():
        cancelled.filter(message=message).update(cancel_reason=reason)
    cancelled.filter(message__startswith="cancelled: staging directory").update(
        cancel_reason="staging-deleted"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("extraction", "0009_request_mail_owed_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="field",
            name="cancel_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("owner", "at the owner's request"),
                    ("staff", "by the archive staff"),
                    ("staging-deleted", "staging directory deleted"),
                ],
                default="",
                max_length=20,
            ),
        ),
        migrations.RunPython(reasons_from_messages, migrations.RunPython.noop),
    ]
