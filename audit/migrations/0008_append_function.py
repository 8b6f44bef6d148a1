"""Issue 16: on PostgreSQL one event is appended by a PL/pgSQL function, whose plans PostgreSQL
keeps per connection, instead of a two-statement string planned afresh for every event.

The function does what the string did, in the same order and with the same hash (see
``audit.services``): the chain's advisory lock; then, under READ COMMITTED, a fresh snapshot per
statement (a VOLATILE function's statements each take one), so the last hash read after the lock
is the previous holder's committed row; the time, taken under the lock; the insert with
``hmac_sha256(key, prev_hash | canonical JSON)`` computed from the two padded keys. Planning that
insert (a CTE over 22 columns and 13 indexes) took about a third of an append's time on the
database. Its parameters are the model's columns in ``audit.services._SQL_FIELDS`` order, each
named ``p_<column>`` (a test compares them); a new hashed column needs a migration replacing it.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_append_one(
    lock_id bigint, genesis text,
    p_actor_type text, p_actor_user_id bigint, p_actor_label text, p_subject_user_id bigint,
    p_subject_label text, p_app_id bigint, p_app_label text, p_grant_id bigint, p_action text,
    p_service text, p_scope text, p_resource text, p_outcome text, p_reason text,
    p_background boolean, p_request_id text, p_client_request_id text, p_source_ip inet,
    p_metadata jsonb,
    opad bytea, ipad bytea, before_ text, after_ text
) RETURNS TABLE (out_id bigint, out_occurred_at timestamptz, out_prev_hash text, out_hash text)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    prev text;
    ts timestamptz;
    utc timestamp;
    iso text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_id);
    SELECT e.hash INTO prev FROM audit_auditevent e ORDER BY e.id DESC LIMIT 1;
    prev := COALESCE(prev, genesis);
    ts := clock_timestamp();
    utc := ts AT TIME ZONE 'UTC';
    -- Python's isoformat() of an aware UTC datetime: microseconds only when not zero.
    iso := to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN to_char(utc, 'US') = '000000' THEN '' ELSE '.' || to_char(utc, 'US') END
        || '+00:00';
    RETURN QUERY
    INSERT INTO audit_auditevent (
        occurred_at, actor_type, actor_user_id, actor_label, subject_user_id, subject_label,
        app_id, app_label, grant_id, action, service, scope, resource, outcome, reason,
        background, request_id, client_request_id, source_ip, metadata, prev_hash, hash
    ) VALUES (
        ts, p_actor_type, p_actor_user_id, p_actor_label, p_subject_user_id, p_subject_label,
        p_app_id, p_app_label, p_grant_id, p_action, p_service, p_scope, p_resource, p_outcome,
        p_reason, p_background, p_request_id, p_client_request_id, p_source_ip, p_metadata, prev,
        encode(sha256(opad || sha256(ipad || convert_to(
            prev || '|' || before_ || iso || after_, 'UTF8'))), 'hex')
    )
    RETURNING id, occurred_at, prev_hash::text, hash::text;
END;
$fn$;
"""
BACKWARD = """
DROP FUNCTION IF EXISTS audit_append_one(
    bigint, text, text, bigint, text, bigint, text, bigint, text, bigint, text, text, text, text,
    text, text, boolean, text, text, inet, jsonb, bytea, bytea, text, text
);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_append_only_trigger")]
    operations = [migrations.RunPython(forward, backward)]
