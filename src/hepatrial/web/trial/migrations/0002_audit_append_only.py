"""Audit rows cannot be changed or deleted, whatever code path tries:
database triggers refuse UPDATE and DELETE on the audit table
(21 CFR 11.10(e); OpenClinica does the same with triggers)."""

from django.db import migrations

POSTGRES = """
CREATE OR REPLACE FUNCTION hepatrial_audit_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows cannot be changed or deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trial_auditevent_no_update BEFORE UPDATE ON trial_auditevent
    FOR EACH ROW EXECUTE FUNCTION hepatrial_audit_is_append_only();
CREATE TRIGGER trial_auditevent_no_delete BEFORE DELETE ON trial_auditevent
    FOR EACH ROW EXECUTE FUNCTION hepatrial_audit_is_append_only();
CREATE TRIGGER trial_auditevent_no_truncate BEFORE TRUNCATE ON trial_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION hepatrial_audit_is_append_only();
"""
POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS trial_auditevent_no_update ON trial_auditevent;
DROP TRIGGER IF EXISTS trial_auditevent_no_delete ON trial_auditevent;
DROP TRIGGER IF EXISTS trial_auditevent_no_truncate ON trial_auditevent;
DROP FUNCTION IF EXISTS hepatrial_audit_is_append_only();
"""
SQLITE = [
    """CREATE TRIGGER trial_auditevent_no_update BEFORE UPDATE ON trial_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed or deleted'); END""",
    """CREATE TRIGGER trial_auditevent_no_delete BEFORE DELETE ON trial_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed or deleted'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS trial_auditevent_no_update",
    "DROP TRIGGER IF EXISTS trial_auditevent_no_delete",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES] if vendor == "postgresql" else SQLITE if vendor == "sqlite" else []
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_REVERSE] if vendor == "postgresql" else SQLITE_REVERSE if vendor == "sqlite" else []
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("trial", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
