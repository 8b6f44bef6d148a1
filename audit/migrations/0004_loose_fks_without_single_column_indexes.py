# The composite (fk, -occurred_at) indexes lead with each loose foreign key; the single-column
# indexes Django adds to foreign keys by default only slowed down every insert.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _loose(to):
    return models.ForeignKey(
        blank=True,
        db_constraint=False,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to=to,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_chain_fork_guard_and_admin_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent", name="actor_user", field=_loose(settings.AUTH_USER_MODEL)
        ),
        migrations.AlterField(
            model_name="auditevent", name="subject_user", field=_loose(settings.AUTH_USER_MODEL)
        ),
        migrations.AlterField(model_name="auditevent", name="app", field=_loose("apps_registry.app")),
        migrations.AlterField(model_name="auditevent", name="grant", field=_loose("consent.grant")),
        # unique=True on a CharField also adds a LIKE index on PostgreSQL: constraints instead.
        migrations.AlterField(
            model_name="auditevent", name="hash", field=models.CharField(max_length=64)
        ),
        migrations.AlterField(
            model_name="auditevent", name="prev_hash", field=models.CharField(max_length=64)
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("hash",), name="audit_hash_unique"),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("prev_hash",), name="audit_prev_hash_unique"),
        ),
    ]
