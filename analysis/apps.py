from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analysis"
    verbose_name = "Account-linkage analysis"

    def ready(self) -> None:
        # The dossier's "Account linkage analysis" section is this app's to declare.
        from analysis.dossier import SECTION
        from dossiers.sections import section_register

        section_register(SECTION)
