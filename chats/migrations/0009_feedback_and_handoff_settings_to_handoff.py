"""Feedback and the chat's handoff-only settings live in handoff now: its migration
0009 copied them there; here chats drops its copies."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0008_customers_moved_to_distributor"),
        ("handoff", "0009_feedback_and_chat_settings"),
    ]

    operations = [
        migrations.DeleteModel(
            name="Feedback",
        ),
        migrations.RemoveField(
            model_name='chat',
            name='feedback_delay_seconds',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='feedback_enabled',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='feedback_prompt',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='feedback_scale',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='operator_idle_seconds',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='queue_max_wait_seconds',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='queue_notice_interval_minutes',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='queue_notice_text',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='script_after_client_timeout',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='script_after_operator_end',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='sla_first_response_seconds',
        ),
        migrations.RemoveField(
            model_name='chat',
            name='sla_next_response_seconds',
        ),
    ]
