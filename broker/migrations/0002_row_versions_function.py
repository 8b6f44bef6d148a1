"""Issue 16: the row versions a cached token's facts are checked against, as one PL/pgSQL function
whose plans PostgreSQL keeps per connection.

``broker_row_versions(token, app, user, grant)`` is the PostgreSQL ``xmin`` of each of those rows
(``-`` for one that does not exist), joined by commas: it changes whenever one of them is
written, however (``broker.factcache``). It is STABLE, so its reads see the snapshot of the
statement that calls it: the token statement calls it with the rows it joined, a cached call
with the primary keys it kept, beside the call's connection. Four primary-key reads as plain
subqueries in the caller's statement cost about 0.2 ms of planning per call; in the function
they are one expression, planned once per connection and run as one query (four queries of
their own cost it about 30 µs more of PostgreSQL's CPU and 0.1-0.2 ms more wall). The table
names are the models' (a test compares them with ``_meta``); a model moved to another table
needs a migration replacing the function. Nothing on SQLite, where the cache is off.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION broker_row_versions(
    p_token bigint, p_app bigint, p_user bigint, p_grant bigint
) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN concat_ws(',',
        COALESCE((SELECT r.xmin::text FROM oauth2_provider_accesstoken r WHERE r.id = p_token), '-'),
        COALESCE((SELECT r.xmin::text FROM apps_registry_app r WHERE r.id = p_app), '-'),
        COALESCE((SELECT r.xmin::text FROM identity_user r WHERE r.id = p_user), '-'),
        COALESCE((SELECT r.xmin::text FROM consent_grant r WHERE r.id = p_grant), '-'));
END
$fn$;
"""

BACKWARD = "DROP FUNCTION IF EXISTS broker_row_versions(bigint, bigint, bigint, bigint);"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("broker", "0001_initial"),
        ("consent", "0007_ended_grant_tokens"),
        ("apps_registry", "0006_oauth_client_names"),
        ("identity", "0003_encrypt_mfa_secrets"),
        ("oauth2_provider", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
