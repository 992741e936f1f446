"""Incident API (contract: "Incidents" in shared/API.md). Thin views: look up through
access-checked selectors (invisible answers 404), check shape, call a service."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_get_by_username
from accounts.services import membership_add, membership_remove
from config.errors import InvalidInput
from incidents import selectors, services
from incidents import serializers as s
from incidents.models import Incident


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def incident_or_404(request: Request, reference: str) -> Incident:
    incident = selectors.incident_get_for_user(request.user, reference)
    if incident is None:
        raise NotFound()
    return incident


def user_or_400(username: str | None, field: str):
    if username is None:
        return None
    user = user_get_by_username(username)
    if user is None:
        raise InvalidInput.for_field(field, f"There is no active user '{username}'.")
    return user


def paginated(view: APIView, request: Request, queryset, serializer_class) -> Response:
    paginator = Pagination()
    page: list[object] | None = paginator.paginate_queryset(
        queryset, request, view=view
    )
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


def render(
    request: Request, serializer_class, obj, code: int = status.HTTP_200_OK
) -> Response:
    return Response(
        serializer_class(obj, context={"request": request}).data, status=code
    )


class IncidentListApi(APIView):
    # A detection tool's ingest token may find the incidents it posts to.
    read_scopes = {"read", "ingest"}

    @extend_schema(responses=s.IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        params = request.query_params
        queryset = selectors.incident_list_for_user(
            request.user,
            status=params.get("status"),
            severity=params.get("severity"),
            kind=params.get("kind"),
            owner=params.get("owner"),
            q=params.get("q"),
            ordering=params.get("ordering"),
        )
        return paginated(self, request, queryset, s.IncidentOutput)

    @extend_schema(request=s.IncidentCreateInput, responses={201: s.IncidentOutput})
    def post(self, request: Request) -> Response:
        data = s.IncidentCreateInput.validated(request.data)
        incident = services.incident_open(by=request.user, **data)
        return render(request, s.IncidentOutput, incident, status.HTTP_201_CREATED)


class IncidentDetailApi(APIView):
    read_scopes = {"read", "ingest"}

    @extend_schema(responses=s.IncidentOutput)
    def get(self, request: Request, reference: str) -> Response:
        return render(request, s.IncidentOutput, incident_or_404(request, reference))

    @extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput)
    def patch(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        changes = s.IncidentUpdateInput.validated(request.data)
        if "owner" in changes:
            changes["owner"] = user_or_400(changes["owner"], "owner")
        incident = services.incident_update(
            incident=incident, by=request.user, changes=changes
        )
        return render(request, s.IncidentOutput, incident)


class IncidentTransitionApi(APIView):
    @extend_schema(request=s.TransitionInput, responses=s.IncidentOutput)
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        data = s.TransitionInput.validated(request.data)
        incident = services.incident_transition(
            incident=incident, by=request.user, **data
        )
        return render(request, s.IncidentOutput, incident)


class SubjectListApi(APIView):
    @extend_schema(responses=s.SubjectOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        return paginated(
            self, request, selectors.subject_list(incident), s.SubjectOutput
        )

    @extend_schema(
        request=s.SubjectInput, responses={201: s.SubjectOutput, 200: s.SubjectOutput}
    )
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        data = s.SubjectInput.validated(request.data)
        subject, created = services.subject_add(
            incident=incident, by=request.user, **data
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, s.SubjectOutput, subject, code)


class SubjectDetailApi(APIView):
    @extend_schema(responses=s.SubjectOutput)
    def get(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        return render(
            request,
            s.SubjectOutput,
            get_object_or_404(selectors.subject_list(incident), pk=pk),
        )


class TimelineListApi(APIView):
    @extend_schema(responses=s.TimelineOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        return paginated(
            self, request, selectors.timeline_list(incident), s.TimelineOutput
        )

    @extend_schema(request=s.TimelineInput, responses={201: s.TimelineOutput})
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        data = s.TimelineInput.validated(request.data)
        entry = services.timeline_add(incident=incident, by=request.user, **data)
        return render(request, s.TimelineOutput, entry, status.HTTP_201_CREATED)


class TimelineDetailApi(APIView):
    @extend_schema(responses=s.TimelineOutput)
    def get(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        return render(
            request,
            s.TimelineOutput,
            get_object_or_404(selectors.timeline_list(incident), pk=pk),
        )


class NoteListApi(APIView):
    @extend_schema(responses=s.NoteOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        notes = selectors.note_list_for_user(request.user, incident)
        return paginated(self, request, notes, s.NoteOutput)

    @extend_schema(request=s.NoteInput, responses={201: s.NoteOutput})
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        data = s.NoteInput.validated(request.data)
        note = services.note_add(incident=incident, by=request.user, **data)
        return render(request, s.NoteOutput, note, status.HTTP_201_CREATED)


class NoteDetailApi(APIView):
    @extend_schema(responses=s.NoteOutput)
    def get(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        notes = selectors.note_list_for_user(request.user, incident)
        return render(request, s.NoteOutput, get_object_or_404(notes, pk=pk))


class TaskListApi(APIView):
    @extend_schema(responses=s.TaskOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        return paginated(self, request, selectors.task_list(incident), s.TaskOutput)

    @extend_schema(request=s.TaskInput, responses={201: s.TaskOutput})
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        data = s.TaskInput.validated(request.data)
        data["assignee"] = user_or_400(data.get("assignee"), "assignee")
        task = services.task_add(incident=incident, by=request.user, **data)
        return render(request, s.TaskOutput, task, status.HTTP_201_CREATED)


class TaskDetailApi(APIView):
    @extend_schema(responses=s.TaskOutput)
    def get(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        return render(
            request,
            s.TaskOutput,
            get_object_or_404(selectors.task_list(incident), pk=pk),
        )

    @extend_schema(request=s.TaskUpdateInput, responses=s.TaskOutput)
    def patch(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        task = get_object_or_404(selectors.task_list(incident), pk=pk)
        data = s.TaskUpdateInput.validated(request.data)
        task = services.task_set_done(
            task=task, by=request.user, is_done=data["is_done"]
        )
        return render(request, s.TaskOutput, task)


class MemberListApi(APIView):
    @extend_schema(responses=s.MemberOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        return paginated(self, request, selectors.member_list(incident), s.MemberOutput)

    @extend_schema(
        request=s.MemberInput, responses={201: s.MemberOutput, 200: s.MemberOutput}
    )
    def post(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        services.require_case_editor(request.user)
        data = s.MemberInput.validated(request.data)
        user = user_or_400(data["user"], "user")
        membership, created = membership_add(
            incident=incident, user=user, by=request.user
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, s.MemberOutput, membership, code)


class MemberDetailApi(APIView):
    @extend_schema(responses=s.MemberOutput)
    def get(self, request: Request, reference: str, username: str) -> Response:
        incident = incident_or_404(request, reference)
        membership = selectors.member_get(incident, username)
        if membership is None:
            raise NotFound()
        return render(request, s.MemberOutput, membership)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, reference: str, username: str) -> Response:
        incident = incident_or_404(request, reference)
        services.require_case_editor(request.user)
        membership = selectors.member_get(incident, username)
        if membership is None:
            raise NotFound()
        membership_remove(incident=incident, user=membership.user, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HistoryListApi(APIView):
    @extend_schema(responses=s.HistoryOutput(many=True))
    def get(self, request: Request, reference: str) -> Response:
        incident = incident_or_404(request, reference)
        return paginated(
            self, request, selectors.history_list(incident), s.HistoryOutput
        )


class HistoryDetailApi(APIView):
    @extend_schema(responses=s.HistoryOutput)
    def get(self, request: Request, reference: str, pk: int) -> Response:
        incident = incident_or_404(request, reference)
        return render(
            request,
            s.HistoryOutput,
            get_object_or_404(selectors.history_list(incident), pk=pk),
        )
