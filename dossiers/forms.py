from django import forms

from dossiers.snapshot import SECTIONS

SECTION_LABELS = {
    "summary": "Executive summary",
    "facts": "Incident facts",
    "subjects": "Suspected actors and subjects",
    "timeline": "Timeline",
    "query_logs": "Query-log summary",
    "analysis": "Account linkage analysis",
    "alerts": "Alerts and signals",
    "forensic_results": "Forensic results",
    "exhibits": "Exhibit index",
    "custody": "Chain of custody",
    "notes": "Notes (non-privileged)",
    "privilege_log": "Privilege log",
    "appendix": "Appendix: query-log excerpts",
    "certification": "Certification (FRE 902(13)/(14))",
}


class DossierForm(forms.Form):
    sections = forms.MultipleChoiceField(
        choices=[(name, SECTION_LABELS[name]) for name in SECTIONS],
        initial=list(SECTIONS),
        widget=forms.CheckboxSelectMultiple,
    )
    bates_prefix = forms.CharField(max_length=20, required=False, label="Bates prefix")
    prepared_for = forms.CharField(max_length=200, required=False, label="Prepared for")
    sign = forms.BooleanField(required=False, initial=True, label="Sign (PAdES)")
