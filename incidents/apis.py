"""Incident API (contract: "Incidents" in shared/API.md). Thin views: look up through
access-checked selectors (invisible answers 404), check shape, call a service."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_get_by_username
from api.incidents import IncidentApi
from api.pagination import paginated
from api.rendering import render
from config.errors import InvalidInput
from incidents import selectors, services
from incidents import serializers as s
from incidents.models import Incident


def user_or_400(username: str | None, field: str):
    if username is None:
        return None
    user = user_get_by_username(username)
    if user is None:
        raise InvalidInput.for_field(field, f"There is no active user '{username}'.")
    return user


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


class IncidentDetailApi(IncidentApi):
    read_scopes = {"read", "ingest"}

    @extend_schema(responses=s.IncidentOutput)
    def get(self, request: Request, incident: Incident) -> Response:
        return render(request, s.IncidentOutput, incident)

    @extend_schema(request=s.IncidentUpdateInput, responses=s.IncidentOutput)
    def patch(self, request: Request, incident: Incident) -> Response:
        changes = s.IncidentUpdateInput.validated(request.data)
        if "owner" in changes:
            changes["owner"] = user_or_400(changes["owner"], "owner")
        incident = services.incident_update(
            incident=incident, by=request.user, changes=changes
        )
        return render(request, s.IncidentOutput, incident)


class IncidentTransitionApi(IncidentApi):
    @extend_schema(request=s.TransitionInput, responses=s.IncidentOutput)
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.TransitionInput.validated(request.data)
        incident = services.incident_transition(
            incident=incident, by=request.user, **data
        )
        return render(request, s.IncidentOutput, incident)


class SubjectListApi(IncidentApi):
    @extend_schema(responses=s.SubjectOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(
            self, request, selectors.subject_list(incident), s.SubjectOutput
        )

    @extend_schema(
        request=s.SubjectInput, responses={201: s.SubjectOutput, 200: s.SubjectOutput}
    )
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.SubjectInput.validated(request.data)
        subject, created = services.subject_add(
            incident=incident, by=request.user, **data
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, s.SubjectOutput, subject, code)


class SubjectDetailApi(IncidentApi):
    @extend_schema(responses=s.SubjectOutput)
    def get(self, request: Request, incident: Incident, pk: int) -> Response:
        return render(
            request,
            s.SubjectOutput,
            get_object_or_404(selectors.subject_list(incident), pk=pk),
        )


class TimelineListApi(IncidentApi):
    @extend_schema(responses=s.TimelineOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(
            self, request, selectors.timeline_list(incident), s.TimelineOutput
        )

    @extend_schema(request=s.TimelineInput, responses={201: s.TimelineOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.TimelineInput.validated(request.data)
        entry = services.timeline_add(incident=incident, by=request.user, **data)
        return render(request, s.TimelineOutput, entry, status.HTTP_201_CREATED)


class TimelineDetailApi(IncidentApi):
    @extend_schema(responses=s.TimelineOutput)
    def get(self, request: Request, incident: Incident, pk: int) -> Response:
        return render(
            request,
            s.TimelineOutput,
            get_object_or_404(selectors.timeline_list(incident), pk=pk),
        )


class NoteListApi(IncidentApi):
    @extend_schema(responses=s.NoteOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        notes = selectors.note_list_for_user(request.user, incident)
        return paginated(self, request, notes, s.NoteOutput)

    @extend_schema(request=s.NoteInput, responses={201: s.NoteOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.NoteInput.validated(request.data)
        note = services.note_add(incident=incident, by=request.user, **data)
        return render(request, s.NoteOutput, note, status.HTTP_201_CREATED)


class NoteDetailApi(IncidentApi):
    @extend_schema(responses=s.NoteOutput)
    def get(self, request: Request, incident: Incident, pk: int) -> Response:
        notes = selectors.note_list_for_user(request.user, incident)
        return render(request, s.NoteOutput, get_object_or_404(notes, pk=pk))


class TaskListApi(IncidentApi):
    @extend_schema(responses=s.TaskOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(self, request, selectors.task_list(incident), s.TaskOutput)

    @extend_schema(request=s.TaskInput, responses={201: s.TaskOutput})
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.TaskInput.validated(request.data)
        data["assignee"] = user_or_400(data.get("assignee"), "assignee")
        task = services.task_add(incident=incident, by=request.user, **data)
        return render(request, s.TaskOutput, task, status.HTTP_201_CREATED)


class TaskDetailApi(IncidentApi):
    @extend_schema(responses=s.TaskOutput)
    def get(self, request: Request, incident: Incident, pk: int) -> Response:
        return render(
            request,
            s.TaskOutput,
            get_object_or_404(selectors.task_list(incident), pk=pk),
        )

    @extend_schema(request=s.TaskUpdateInput, responses=s.TaskOutput)
    def patch(self, request: Request, incident: Incident, pk: int) -> Response:
        task = get_object_or_404(selectors.task_list(incident), pk=pk)
        data = s.TaskUpdateInput.validated(request.data)
        task = services.task_set_done(
            task=task, by=request.user, is_done=data["is_done"]
        )
        return render(request, s.TaskOutput, task)


class MemberListApi(IncidentApi):
    role_checks = {"post": services.require_case_editor}

    @extend_schema(responses=s.MemberOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(self, request, selectors.member_list(incident), s.MemberOutput)

    @extend_schema(
        request=s.MemberInput, responses={201: s.MemberOutput, 200: s.MemberOutput}
    )
    def post(self, request: Request, incident: Incident) -> Response:
        data = s.MemberInput.validated(request.data)
        user = user_or_400(data["user"], "user")
        membership, created = services.membership_add(
            incident=incident, user=user, by=request.user
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return render(request, s.MemberOutput, membership, code)


class MemberDetailApi(IncidentApi):
    role_checks = {"delete": services.require_case_editor}

    @extend_schema(responses=s.MemberOutput)
    def get(self, request: Request, incident: Incident, username: str) -> Response:
        membership = selectors.member_get(incident, username)
        if membership is None:
            raise NotFound()
        return render(request, s.MemberOutput, membership)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, incident: Incident, username: str) -> Response:
        membership = selectors.member_get(incident, username)
        if membership is None:
            raise NotFound()
        services.membership_remove(
            incident=incident, user=membership.user, by=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class HistoryListApi(IncidentApi):
    @extend_schema(responses=s.HistoryOutput(many=True))
    def get(self, request: Request, incident: Incident) -> Response:
        return paginated(
            self, request, selectors.history_list(incident), s.HistoryOutput
        )


class HistoryDetailApi(IncidentApi):
    @extend_schema(responses=s.HistoryOutput)
    def get(self, request: Request, incident: Incident, pk: int) -> Response:
        return render(
            request,
            s.HistoryOutput,
            get_object_or_404(selectors.history_list(incident), pk=pk),
        )
