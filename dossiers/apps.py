from django.apps import AppConfig


class DossiersConfig(AppConfig):
    name = "dossiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dossiers.sections import section_register
        from dossiers.snapshot import CORE_SECTIONS

        for section in CORE_SECTIONS:
            section_register(section)
