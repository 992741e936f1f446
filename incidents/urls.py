from django.urls import path

from incidents import alert_apis, alert_views, apis, views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("incidents/new/", views.incident_create, name="create"),
    path("incidents/<str:reference>/", views.incident_detail, name="detail"),
    path("incidents/<str:reference>/edit/", views.incident_edit, name="edit"),
    path(
        "incidents/<str:reference>/transition/",
        views.incident_transition,
        name="transition",
    ),
    path("incidents/<str:reference>/subjects/", views.subject_add, name="subject-add"),
    path(
        "incidents/<str:reference>/timeline/", views.timeline_add, name="timeline-add"
    ),
    path("incidents/<str:reference>/notes/", views.note_add, name="note-add"),
    path("incidents/<str:reference>/tasks/", views.task_add, name="task-add"),
    path(
        "incidents/<str:reference>/tasks/<int:pk>/",
        views.task_toggle,
        name="task-toggle",
    ),
    path("incidents/<str:reference>/members/", views.member_add, name="member-add"),
    path(
        "incidents/<str:reference>/members/<str:username>/remove/",
        views.member_remove,
        name="member-remove",
    ),
    path("incidents/<str:reference>/history/", views.incident_history, name="history"),
    path("alerts/", alert_views.alert_queue, name="alerts"),
    path("alerts/<int:pk>/promote/", alert_views.alert_promote, name="alert-promote"),
    path("alerts/<int:pk>/merge/", alert_views.alert_merge, name="alert-merge"),
    path("alerts/<int:pk>/dismiss/", alert_views.alert_dismiss, name="alert-dismiss"),
]

_incident = "incidents/<str:reference>/"
api_urlpatterns = [
    path("incidents/", apis.IncidentListApi.as_view(), name="incident-list"),
    path(_incident, apis.IncidentDetailApi.as_view(), name="incident-detail"),
    path(
        f"{_incident}transition/",
        apis.IncidentTransitionApi.as_view(),
        name="incident-transition",
    ),
    path(
        f"{_incident}subjects/", apis.SubjectListApi.as_view(), name="incident-subjects"
    ),
    path(
        f"{_incident}subjects/<int:pk>/",
        apis.SubjectDetailApi.as_view(),
        name="subject-detail",
    ),
    path(
        f"{_incident}timeline/",
        apis.TimelineListApi.as_view(),
        name="incident-timeline",
    ),
    path(
        f"{_incident}timeline/<int:pk>/",
        apis.TimelineDetailApi.as_view(),
        name="timeline-detail",
    ),
    path(f"{_incident}notes/", apis.NoteListApi.as_view(), name="incident-notes"),
    path(
        f"{_incident}notes/<int:pk>/", apis.NoteDetailApi.as_view(), name="note-detail"
    ),
    path(f"{_incident}tasks/", apis.TaskListApi.as_view(), name="incident-tasks"),
    path(
        f"{_incident}tasks/<int:pk>/", apis.TaskDetailApi.as_view(), name="task-detail"
    ),
    path(f"{_incident}members/", apis.MemberListApi.as_view(), name="incident-members"),
    path(
        f"{_incident}members/<str:username>/",
        apis.MemberDetailApi.as_view(),
        name="member-detail",
    ),
    path(
        f"{_incident}history/", apis.HistoryListApi.as_view(), name="incident-history"
    ),
    path(
        f"{_incident}history/<int:pk>/",
        apis.HistoryDetailApi.as_view(),
        name="history-detail",
    ),
    path("alerts/", alert_apis.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:pk>/", alert_apis.AlertDetailApi.as_view(), name="alert-detail"),
    path(
        "alerts/<int:pk>/promote/",
        alert_apis.AlertPromoteApi.as_view(),
        name="alert-promote",
    ),
    path(
        "alerts/<int:pk>/merge/", alert_apis.AlertMergeApi.as_view(), name="alert-merge"
    ),
    path(
        "alerts/<int:pk>/dismiss/",
        alert_apis.AlertDismissApi.as_view(),
        name="alert-dismiss",
    ),
]
