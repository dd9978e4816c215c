"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the access log for every client of the database, not
only this application. (TRUNCATE, which a test database flush uses, needs the table owner and is not a row
change.) SQLite has no such guard at the database level; the model refuses changes there."""

from django.db import migrations

TABLE = "privacy_accesslog"

CREATE = f"""
CREATE OR REPLACE FUNCTION allot_access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access log is append-only: % refused on {TABLE}', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS access_log_append_only ON {TABLE};
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION allot_access_log_append_only();
"""

DROP = f"""
DROP TRIGGER IF EXISTS access_log_append_only ON {TABLE};
DROP FUNCTION IF EXISTS allot_access_log_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
