"""The operations side of the console: exports, the statistics dashboard, cookie scans.

Marketing ops read statistics and request scans here; exports (they hold consent ids)
are the privacy role's. Celery tasks do the work and these pages show the outcome.
Nobody edits an export, a statistic or a scan's findings. Each is limited to the sites
granted to the user (consent.admin_access).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html

from . import audit, charts, exports, scanner, stats, tasks
from .admin_access import SiteScopedAdmin, granted_sites
from .db_routers import replica_for_get
from .models import CookieScan, DailyStat, ExportJob, JobStatus, Method


def _size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


@admin.register(ExportJob)
class ExportJobAdmin(SiteScopedAdmin):
    list_display = (
        "__str__",
        "created_at",
        "requested_by",
        "site",
        "date_from",
        "date_to",
        "status",
        "row_count",
        "size",
        "download",
    )
    list_filter = ("status", "format", "site")
    fields = ("site", "date_from", "date_to", "consent_id", "format")
    readonly_fields = (
        "status",
        "requested_by",
        "created_at",
        "finished_at",
        "row_count",
        "size",
        "download",
        "error",
    )

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.fields + self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "site" in form.base_fields and not request.user.is_superuser:
            # "Every site" is every site of the platform: only superusers export that.
            form.base_fields["site"].required = True
            form.base_fields["site"].help_text = ""
        return form

    def get_changeform_initial_data(self, request):
        # The records list links here with its filters, e.g. ?site=3.
        initial = super().get_changeform_initial_data(request)
        return {k: v for k, v in initial.items() if k in self.fields}

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size")
    def size(self, obj: ExportJob) -> str:
        return _size(obj.size_bytes) if obj.status == JobStatus.DONE else "-"

    @admin.display(description="file")
    def download(self, obj: ExportJob) -> str:
        if obj.status != JobStatus.DONE:
            return obj.get_status_display()
        return format_html(
            '<a href="{}">Download {}</a>',
            reverse("admin:consent_exportjob_download", args=[obj.pk]),
            obj.file_name,
        )

    def save_model(self, request, obj, form, change):
        obj.requested_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        with audit.acting_as(obj.requested_by):
            audit.log_event(
                "export",
                obj,
                site_key=obj.site.key if obj.site else "",
                data={"format": obj.format, "consent_id_filter": bool(obj.consent_id)},
            )
        transaction.on_commit(lambda: tasks.export_records.delay(obj.pk))
        messages.info(request, "Export requested: its file appears in this list when ready.")

    def delete_model(self, request, obj):
        path = exports.file_path(obj)
        super().delete_model(request, obj)
        if path is not None:
            path.unlink(missing_ok=True)

    def delete_queryset(self, request, queryset):
        # The list's "delete selected" too: no file of consent ids outlives its job.
        for job in queryset:
            self.delete_model(request, job)

    def get_urls(self):
        return [
            path(
                "<int:job_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="consent_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        """Exports hold consent ids and network prefixes: staff with the permission only,
        and each download is an AuditEvent."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=job_id, status=JobStatus.DONE)
        file = exports.file_path(job)
        if file is None or not file.exists():
            raise Http404("The export file is gone; request the export again.")
        with audit.acting_as(request.user.get_username()):
            audit.log_event("download", job, site_key=job.site.key if job.site else "")
        content_type = "text/csv" if job.format == ExportJob.Format.CSV else "application/jsonl"
        return FileResponse(
            file.open("rb"), as_attachment=True, filename=job.file_name, content_type=content_type
        )


METHOD_COLORS = {
    Method.ACCEPT_ALL: "#2f855a",
    Method.CUSTOM: "#2b6cb0",
    Method.REJECT_ALL: "#c05621",
    Method.WITHDRAW: "#b7791f",
    Method.GPC: "#6b46c1",
    Method.DNT: "#c53030",
}
PERIODS = (7, 30, 90)


@admin.register(DailyStat)
class DailyStatAdmin(SiteScopedAdmin):
    """Its list is the dashboard: consent rates over time and the share of opt-out signals."""

    list_display = ("date", "site", "method", "total", "gpc", "dnt")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @method_decorator(replica_for_get)
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        sites = list(granted_sites(request))
        if not sites:
            return TemplateResponse(
                request,
                "admin/consent/dashboard.html",
                {**self.admin_site.each_context(request), "title": "Consent statistics"},
            )
        chosen = request.GET.get("site", "")
        site = next((s for s in sites if str(s.pk) == chosen), sites[0])
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in PERIODS else 30
        summary = stats.summary(site, days)
        labels = [d.date.strftime("%d %b") for d in summary.days]
        methods = [m for m in Method if summary.method_total(m)] or [Method.ACCEPT_ALL]
        rate_series = [
            charts.Series(c.name, [d.rate(c.slug) for d in summary.days])
            for c in summary.categories
        ]
        method_series = [
            charts.Series(m.label, [d.by_method.get(m, 0) for d in summary.days], METHOD_COLORS[m])
            for m in methods
        ]
        signal_series = [
            charts.Series("Sec-GPC", [d.share(d.gpc) for d in summary.days], "#6b46c1"),
            charts.Series("DNT", [d.share(d.dnt) for d in summary.days], "#c53030"),
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Consent statistics: {site}",
            "opts": self.model._meta,
            "sites": sites,
            "site": site,
            "days": days,
            "periods": PERIODS,
            "summary": summary,
            "rates": [(c, summary.rate(c.slug)) for c in summary.categories],
            "methods": [(m, summary.method_total(m)) for m in methods],
            "gpc_share": summary.share("gpc"),
            "dnt_share": summary.share("dnt"),
            "rate_chart": charts.line_chart("Consent rate by category", labels, rate_series),
            "rate_legend": charts.legend(rate_series),
            "method_chart": charts.stacked_bars("Decisions by method", labels, method_series),
            "method_legend": charts.legend(method_series),
            "signal_chart": charts.line_chart(
                "Share of decisions with an opt-out signal", labels, signal_series
            ),
            "signal_legend": charts.legend(signal_series),
            "table": [
                (
                    d,
                    [d.by_method.get(m, 0) for m in methods],
                    [d.rate(c.slug) for c in summary.categories],
                )
                for d in reversed(summary.days)
                if d.total
            ],
        }
        return TemplateResponse(request, "admin/consent/dashboard.html", context)


@admin.register(CookieScan)
class CookieScanAdmin(SiteScopedAdmin):
    list_display = ("__str__", "site", "created_at", "requested_by", "status", "pages", "leaks")
    list_filter = ("status", "site")
    fields = ("site", "urls")
    actions = ["scan_again"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="pages")
    def pages(self, obj: CookieScan) -> int:
        return len(obj.url_list())

    @admin.display(description="leaks before consent")
    def leaks(self, obj: CookieScan) -> str:
        if obj.status != JobStatus.DONE:
            return obj.get_status_display()
        count = len(scanner.report(obj).leaks)
        if not count:
            return "none"
        return format_html('<strong class="scan-leak">{}</strong>', count)

    def _start(self, request, scan: CookieScan) -> None:
        transaction.on_commit(lambda: tasks.scan_cookies.delay(scan.pk))

    def save_model(self, request, obj, form, change):
        obj.requested_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        self._start(request, obj)
        messages.info(request, "Scan started: its report opens from this list when done.")

    @admin.action(description="Scan the selected scans' pages again", permissions=["add"])
    def scan_again(self, request, queryset):
        for old in queryset:
            scan = CookieScan.objects.create(
                site=old.site, urls=old.urls, requested_by=request.user.get_username()
            )
            self._start(request, scan)
        messages.info(request, f"{queryset.count()} scans started again.")

    def changelist_view(self, request, extra_context=None):
        # A scan whose worker died would otherwise show "running" until the next one.
        scanner.fail_stale_scans()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """An existing scan opens as its report."""
        scanner.fail_stale_scans()
        scan = self.get_object(request, object_id)
        if scan is None:
            messages.warning(request, f"No cookie scan #{object_id}: perhaps it was deleted.")
            return redirect("admin:index")
        if not self.has_view_permission(request, scan):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": str(scan),
            "opts": self.opts,
            "original": scan,
            "scan": scan,
            "report": scanner.report(scan) if scan.status == JobStatus.DONE else None,
            "duration": (scan.finished_at - scan.started_at).total_seconds()
            if scan.finished_at and scan.started_at
            else None,
        }
        return TemplateResponse(request, "admin/consent/cookiescan/report.html", context)
