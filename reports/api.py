"""Analysis plans and reports through the API: read plans, list and order reports.

Files are downloaded through the same authorised view as in the browser (``download_url``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ErrorSerializer, SchemaTypedInput
from reports import exports, pipeline, services
from reports.models import AnalysisPlan, AnalysisUnblinding, ReportRequest
from trial.api import TrialScopedMixin, query_filters, service_errors
from trial.permissions import AuthenticatedRequest, Perm


class AnalysisPlanSerializer(serializers.ModelSerializer[AnalysisPlan]):
    supersedes = serializers.IntegerField(
        source="supersedes.version", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = AnalysisPlan
        fields = [
            "version",
            "status",
            "primary_outcome",
            "time_point",
            "secondary_outcomes",
            "analysis_model",
            "covariates",
            "missing",
            "subgroups",
            "notes",
            "supersedes",
            "reason",
            "created_at",
            "locked_at",
            "locked_by_name",
            "content_hash",
        ]


class DeidentificationSerializer(serializers.Serializer[Any]):
    drop_free_text = serializers.BooleanField()
    date_shift_days = serializers.IntegerField()
    hash_study_ids = serializers.ChoiceField(choices=list(exports.HASH_CHOICES))


class ReportSerializer(serializers.ModelSerializer[ReportRequest]):
    plan_version = serializers.IntegerField(
        source="plan.version", default=None, allow_null=True, read_only=True
    )
    files = serializers.SerializerMethodField()
    formats = serializers.SerializerMethodField()
    deidentify = serializers.SerializerMethodField()

    class Meta:
        model = ReportRequest
        fields = [
            "id",
            "kind",
            "cut_off",
            "options",
            "seed",
            "blinded",
            "language",
            "plan_version",
            "status",
            "stage",
            "percent",
            "error",
            "requested_by_name",
            "created_at",
            "finished_at",
            "snapshot_hash",
            "versions",
            "files",
            "formats",
            "deidentify",
        ]

    def get_formats(self, report: ReportRequest) -> list[str]:
        """Files of each data set in the ZIP."""
        return list(services.export_options(report).formats)

    @extend_schema_field(DeidentificationSerializer)
    def get_deidentify(self, report: ReportRequest) -> dict[str, Any]:
        """What was taken out of the data sets before they were written."""
        return services.export_options(report).deidentification()

    def get_files(self, report: ReportRequest) -> dict[str, str]:
        """Download URLs of the finished files the user may download."""
        user = self.context["request"].user
        if report.status != ReportRequest.Status.DONE or not services.may_download(user, report):
            return {}
        names = {"pdf": report.pdf_file, "zip": report.zip_file}
        return {
            which: reverse("reports:download", args=[report.trial.code, report.pk, which])
            for which, name in names.items()
            if name
        }


class OrderReportSerializer(SchemaTypedInput, serializers.Serializer[Any]):
    """An order for a report: its kind and data cut-off, optionally its language (by default
    the request's: Accept-Language, else the site's default), and the files and
    de-identification of its data sets."""

    kind = serializers.ChoiceField(choices=[])
    cut_off = serializers.DateField()
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    language = serializers.ChoiceField(choices=[], required=False)
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=list(exports.FORMATS)),
        required=False,
        allow_empty=False,
        max_length=len(exports.FORMATS),
        help_text="Files of each data set in the ZIP (default csv and stata): csv; stata (.dta); "
        "spss (.sav, with value labels and user-missing codes); r (the CSV files and "
        "load_data.R, which applies the labels); parquet (labels in the field metadata).",
    )
    drop_free_text = serializers.BooleanField(
        required=False, default=False, help_text="Leave out the free-text items."
    )
    date_shift_days = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=exports.DATE_SHIFT_MAX,
        help_text="Shift each participant's dates by the same random number of days, 1 to this "
        "many, earlier or later; 0 leaves dates as recorded.",
    )
    hash_study_ids = serializers.ChoiceField(
        choices=list(exports.HASH_CHOICES),
        required=False,
        default=exports.KEEP,
        help_text="none: keep the study ids; export: replace them by a keyed hash for this "
        "export only; trial: by a keyed hash shared by the trial's exports ordered with trial.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = list(pipeline.KINDS)  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["language"].choices = [code for code, _name in settings.LANGUAGES]  # type: ignore[attr-defined]  # a ChoiceField


@extend_schema(summary="Versions of the trial's statistical analysis plan, newest first")
class AnalysisPlanList(TrialScopedMixin, generics.ListAPIView[AnalysisPlan]):
    serializer_class = AnalysisPlanSerializer
    trial_perm = Perm.ORDER_REPORT

    def get_queryset(self) -> QuerySet[AnalysisPlan]:
        return self.get_trial().analysis_plans.select_related("supersedes").order_by("-version")


class QueueUnavailable(APIException):
    """The order was recorded but the task queue could not be reached; it was marked failed
    and will not be built. The client may order again later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The task queue could not be reached.")
    default_code = "service_unavailable"


class TooManyReportsWaiting(APIException):
    """The user has as many builds queued or running as one person may have
    (``REPORT_ACTIVE_PER_USER``); nothing was ordered."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = gettext_lazy("Too many of your reports are waiting or being built.")
    default_code = "too_many_reports"


class ReportList(TrialScopedMixin, APIView):
    trial_perm = Perm.DOWNLOAD_REPORT
    write_perm = Perm.ORDER_REPORT

    @extend_schema(
        summary="Reports ordered for the trial, newest first", responses=ReportSerializer(many=True)
    )
    def get(self, request: Request, code: str) -> Response:
        reports = ReportRequest.objects.filter(trial=self.get_trial()).select_related(
            "trial", "plan"
        )[:100]
        data = ReportSerializer(reports, many=True, context={"request": request}).data
        return Response(data)

    @extend_schema(
        summary="Order a report; it is built in the background (poll the report)",
        request=OrderReportSerializer,
        responses={
            201: ReportSerializer,
            503: OpenApiResponse(
                ErrorSerializer,
                description="The task queue could not be reached: the order was marked failed "
                "and will not be built; order again later.",
            ),
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many requests, or the user already has as many reports waiting "
                "or being built as one person may have (code too_many_reports): order again "
                "when one has finished.",
            ),
        },
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        body = OrderReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        options = {"seed": data["seed"]} if "seed" in data else {}
        export = {
            "formats": data.get("formats"),
            "drop_free_text": data["drop_free_text"],
            "date_shift_days": data["date_shift_days"],
            "hash_study_ids": data["hash_study_ids"],
        }
        with service_errors():
            try:
                report = services.request_report(
                    trial,
                    kind=data["kind"],
                    cut_off=data["cut_off"],
                    options=options,
                    export=export,
                    actor=request.user,
                    language=data.get("language"),
                )
            except services.TooManyReports as error:
                raise TooManyReportsWaiting(error.message) from None
        if report.never_queued:
            raise QueueUnavailable(report.error)
        out = ReportSerializer(report, context={"request": request}).data
        return Response(out, status=status.HTTP_201_CREATED)


@extend_schema(summary="One report: progress, provenance and download links")
class ReportDetail(TrialScopedMixin, generics.RetrieveAPIView[ReportRequest]):
    serializer_class = ReportSerializer
    trial_perm = Perm.DOWNLOAD_REPORT

    def get_object(self) -> ReportRequest:
        return get_object_or_404(
            ReportRequest.objects.select_related("trial", "plan"),
            trial=self.get_trial(),
            pk=self.kwargs["report_id"],
        )


class ConsortQuerySerializer(serializers.Serializer[Any]):
    cut_off = serializers.DateField(required=False, help_text="Data cut-off (default: today).")


class ConsortSVG(TrialScopedMixin, APIView):
    trial_perm = Perm.ORDER_REPORT

    @extend_schema(
        summary="The trial's current CONSORT flow diagram as SVG",
        description="Counts as they stand on the cut-off, drawn as in the reports; arms as "
        "codes for a blinded user. Needs the right to order reports.",
        parameters=[ConsortQuerySerializer],
        responses={(200, "image/svg+xml"): str},
    )
    def get(self, request: AuthenticatedRequest, code: str) -> HttpResponse:
        trial = self.get_trial()
        query = query_filters(ConsortQuerySerializer, request)
        cut_off: dt.date = query.get("cut_off") or timezone.localdate()
        with service_errors():
            svg = services.consort_download(trial, cut_off=cut_off, actor=request.user)
        response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
        name = f"{trial.code}-consort-{cut_off.isoformat()}.svg"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class AnalysisUnblindingSerializer(serializers.ModelSerializer[AnalysisUnblinding]):
    plan_version = serializers.IntegerField(source="plan.version", read_only=True)

    class Meta:
        model = AnalysisUnblinding
        fields = [
            "plan_version",
            "plan_hash",
            "cut_off",
            "snapshot_hash",
            "reason",
            "unblinded_by_name",
            "created_at",
        ]
        read_only_fields = fields


class AnalysisUnblindingStatusSerializer(serializers.Serializer[Any]):
    unblinded = serializers.BooleanField(help_text="Whether the analysis has been unblinded.")
    unblinding = AnalysisUnblindingSerializer(allow_null=True)


class AnalysisUnblindingInput(SchemaTypedInput, serializers.Serializer[Any]):
    """Unblinding the analysis: the cut-off of the locked data and why."""

    cut_off = serializers.DateField(help_text="The data cut-off at which the data are locked.")
    reason = serializers.CharField(max_length=2000, help_text="Why the analysis is unblinded now.")


class AnalysisUnblindingView(TrialScopedMixin, APIView):
    """The trial's analysis unblinding: read by whoever may order reports, recorded once by a
    coordinator (``UNBLIND_ANALYSIS``) after the plan is locked."""

    trial_perm = Perm.ORDER_REPORT
    write_perm = Perm.UNBLIND_ANALYSIS

    @extend_schema(
        summary="Whether the trial's analysis has been unblinded, and how",
        responses={200: AnalysisUnblindingStatusSerializer},
    )
    def get(self, request: Request, code: str) -> Response:
        record = AnalysisUnblinding.objects.filter(trial=self.get_trial()).first()
        data = {"unblinded": record is not None, "unblinding": record}
        return Response(AnalysisUnblindingStatusSerializer(data).data)

    @extend_schema(
        summary="Unblind the analysis (once, after the plan is locked)",
        description="Locks the data at the cut-off by their snapshot hash and shows arm names "
        "to every member from now on. Audited; cannot be undone or repeated.",
        request=AnalysisUnblindingInput,
        responses={201: AnalysisUnblindingSerializer, 400: ErrorSerializer},
    )
    def post(self, request: AuthenticatedRequest, code: str) -> Response:
        trial = self.get_trial()
        given = AnalysisUnblindingInput(data=request.data)
        given.is_valid(raise_exception=True)
        with service_errors():
            record = services.unblind_analysis(
                trial,
                cut_off=given.validated_data["cut_off"],
                reason=given.validated_data["reason"],
                actor=request.user,
            )
        return Response(AnalysisUnblindingSerializer(record).data, status=status.HTTP_201_CREATED)
