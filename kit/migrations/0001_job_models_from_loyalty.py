# JobRun and JobLock moved from loyalty to kit: the tables stay as they are (loyalty 0003 created them),
# only Django's model state changes hands.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('loyalty', '0006_member_birthday_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='JobLock',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('holder', models.CharField(blank=True, default='', max_length=100)),
                        ('expires_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={'db_table': 'loyalty_joblock'},
                ),
                migrations.CreateModel(
                    name='JobRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('status', models.CharField(choices=[('running', 'running'), ('ok', 'ok'), ('failed', 'failed'), ('skipped', 'skipped')], default='running', max_length=10)),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                        ('result', models.JSONField(blank=True, null=True)),
                        ('error', models.TextField(blank=True, default='')),
                    ],
                    options={
                        'db_table': 'loyalty_jobrun',
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['name', '-started_at'], name='jobrun_name_started')],
                    },
                ),
            ],
        ),
    ]
