"""The audit trail becomes a hash chain: each row carries the hash of the row before it
and its own (``hepatrial.core.audit_chain``). Rows already written are chained in key
order; the append-only triggers are lifted for that one backfill and put back."""

import importlib

from django.db import migrations, models

from hepatrial.core.audit_chain import FIELDS, GENESIS, link

append_only = importlib.import_module("hepatrial.web.trial.migrations.0002_audit_append_only")


def chain_existing(apps, schema_editor):
    AuditEvent = apps.get_model("trial", "AuditEvent")
    table = schema_editor.connection.ops.quote_name(AuditEvent._meta.db_table)
    append_only.backwards(apps, schema_editor)
    prev = GENESIS
    with schema_editor.connection.cursor() as cursor:
        for row in AuditEvent.objects.order_by("pk").values("pk", *FIELDS).iterator(chunk_size=2000):
            row_hash = link(prev, row)
            cursor.execute(f"UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s", [prev, row_hash, row["pk"]])
            prev = row_hash
    append_only.forwards(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("trial", "0010_prescreen_run")]
    operations = [
        migrations.AddField("auditevent", "prev_hash", models.CharField(
            max_length=64, editable=False, default="", help_text="The hash of the row before this one.")),  # fmt: skip
        migrations.AddField("auditevent", "hash", models.CharField(
            max_length=64, editable=False, default="", help_text="SHA-256 over prev_hash and this row's content.")),  # fmt: skip
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
