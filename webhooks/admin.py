"""Admin for webhooks: endpoints go through the same services as the API (the secret is shown once, in a
message, on creation); outbox events, deliveries and attempts are a read-only log."""

from django import forms
from django.contrib import admin, messages

from webhooks import egress, services
from webhooks.models import Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ("club", "url", "events", "active")
        help_texts = {"events": "A JSON list of: " + ", ".join(services.EVENT_TYPES)}

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError("Only http and https URLs are supported.")
        if egress.url_host_refused(url):
            raise forms.ValidationError(
                "This host is inside the network; deliveries go to public addresses only "
                "(WEBHOOK_ALLOW_PRIVATE_URLS allows others)."
            )
        return url

    def clean_events(self):
        events = self.cleaned_data["events"]
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise forms.ValidationError("Give a non-empty JSON list of event types.")
        unknown = sorted(set(events) - set(services.EVENT_TYPES))
        if unknown:
            raise forms.ValidationError(f"Unknown event types: {', '.join(unknown)}")
        return events


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("id", "club", "url", "format", "active", "events", "created_at")
    list_filter = ("active", "format", "club")
    search_fields = ("url",)
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "club") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            fields = {k: form.cleaned_data[k] for k in ("url", "events", "active") if k in form.changed_data}
            services.webhook_endpoint_update(endpoint=obj, **fields)
            return
        created = services.webhook_endpoint_create(
            club=form.cleaned_data["club"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            active=form.cleaned_data["active"],
        )
        obj.pk = created.pk
        messages.warning(request, f"Signing secret (copy it now, it is not shown again): {created.secret}")

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.webhook_endpoint_delete(endpoint=endpoint)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeliveryInline(_ReadOnlyInline):
    model = Delivery
    fields = ("endpoint", "state", "attempts", "next_attempt_at", "finished_at", "last_status_code")
    readonly_fields = fields


@admin.register(OutboxEvent)
class OutboxEventAdmin(_ReadOnlyAdmin):
    list_display = ("id", "type", "club", "member_id", "created_at")
    list_filter = ("type", "club")
    search_fields = ("=id", "=member_id")
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]


class DeliveryAttemptInline(_ReadOnlyInline):
    model = DeliveryAttempt
    show_change_link = False
    fields = ("number", "attempted_at", "status_code", "error", "duration_ms", "response_excerpt")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnlyAdmin):
    list_display = ("id", "event", "endpoint", "state", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("state", "endpoint__club")
    search_fields = ("=event__id", "=member_id")
    list_select_related = ("event", "endpoint")
    inlines = [DeliveryAttemptInline]
    actions = ["retry"]

    @admin.action(description="Retry selected failed deliveries")
    def retry(self, request, queryset):
        requeued = sum(services.delivery_retry(delivery=d) for d in queryset)
        messages.info(request, f"{requeued} failed deliveries queued again.")
