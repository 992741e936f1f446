from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from api.pages import form_errors, incident_page, run
from dossiers import selectors
from dossiers.forms import SECTION_LABELS, DossierForm
from dossiers.services import default_bates_prefix, dossier_request
from incidents.models import Incident


@incident_page
def dossier_tab(request: HttpRequest, incident: Incident) -> HttpResponse:
    form = DossierForm(
        request.POST or None, initial={"bates_prefix": default_bates_prefix(incident)}
    )
    if request.method == "POST":
        if form.is_valid():
            run(
                request,
                lambda: dossier_request(
                    incident=incident, by=request.user, **form.cleaned_data
                ),
                "Dossier requested; it renders in the background.",
            )
        else:
            messages.error(request, form_errors(form))
        return redirect("dossiers:list", reference=incident.reference)
    return render(
        request,
        "dossiers/dossier_list.html",
        {
            "incident": incident,
            "dossiers": selectors.dossier_list_for_user(request.user, incident),
            "form": form,
            "can_edit": request.user.can_edit_cases,
            "section_labels": SECTION_LABELS,
        },
    )
