"""Issue 12 item 11: the chain becomes HMAC-SHA256 under AUDIT_CHAIN_KEY (outside the database).

Every stored event is hashed again, in id order, from the anchor the oldest one chains to (the
genesis hash or an archive's last hash, which stays as it is: archives written before keep their
plain SHA-256 lines and say so). Before rewriting anything the old chain is verified; a broken
chain is not silently re-blessed: the migration stops and names the event.
"""

from django.db import migrations

BATCH = 2000


def rekey(apps, schema_editor):
    from audit.models import ALG_HMAC, ALG_SHA256, canonical_of, chain_hash

    Event = apps.get_model("audit", "AuditEvent")
    first = Event.objects.order_by("id").first()
    if first is None:
        return
    old_prev = new_prev = first.prev_hash
    last_id = 0
    while True:
        batch = list(Event.objects.filter(id__gt=last_id).order_by("id")[:BATCH])
        if not batch:
            return
        for event in batch:
            canonical = canonical_of(event)
            # The old hash did not cover client_request_id (added empty in 0005).
            legacy = {k: v for k, v in canonical.items() if k != "client_request_id"}
            if event.prev_hash != old_prev or chain_hash(
                old_prev, legacy, alg=ALG_SHA256
            ) != event.hash:
                raise RuntimeError(
                    f"Audit event #{event.pk} does not verify under the old chain; run "
                    "audit_verify on the previous release and investigate before migrating."
                )
            old_prev = event.hash
            new_hash = chain_hash(new_prev, canonical, alg=ALG_HMAC)
            Event.objects.filter(pk=event.pk).update(prev_hash=new_prev, hash=new_hash)
            new_prev = new_hash
        last_id = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_client_request_id")]
    operations = [migrations.RunPython(rekey, migrations.RunPython.noop, elidable=False)]
