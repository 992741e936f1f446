from django import forms

from dossiers.sections import dossier_sections, section_keys

# Read when the module is imported, which the URL configuration does once the apps
# are ready; dossier_sections() refuses to answer earlier.
SECTION_LABELS = {section.key: section.label for section in dossier_sections()}


class DossierForm(forms.Form):
    sections = forms.MultipleChoiceField(
        choices=list(SECTION_LABELS.items()),
        initial=section_keys(),
        widget=forms.CheckboxSelectMultiple,
    )
    bates_prefix = forms.CharField(max_length=20, required=False, label="Bates prefix")
    prepared_for = forms.CharField(max_length=200, required=False, label="Prepared for")
    sign = forms.BooleanField(required=False, initial=True, label="Sign (PAdES)")
