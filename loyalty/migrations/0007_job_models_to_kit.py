# JobRun and JobLock now belong to kit (kit 0001 takes over their state); the tables are kept.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0006_member_birthday_index'),
        ('kit', '0001_job_models_from_loyalty'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='JobLock'),
                migrations.DeleteModel(name='JobRun'),
            ],
        ),
    ]
