"""Hooks for the services IDENT integrates with: one module per service, no IDENT-database access.

Installed as a small local Airflow provider (see pyproject.toml) so that each service's
connection type, form labels and the UI's Test button ("Проверить") exist.
"""

__version__ = "0.1.0"


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-ident",
        "name": "IDENT integrations",
        "description": "Hooks for the services a dental clinic's IDENT program integrates with.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "ident_clinic_http",
                "hook-class-name": "ident_hooks.clinic_http.ClinicHttpHook",
                "hook-name": "IDENT: clinic's own HTTP service",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Service base URL", "password": "IDENT-Integration-Key"},
                    "placeholders": {
                        "host": "https://clinic.example.ru/ident",
                        "extra": '{"timeout": 45, "compress": false}',
                    },
                },
            },
            {
                "connection-type": "ident_uis",
                "hook-class-name": "ident_hooks.uis.UisHook",
                "hook-name": "IDENT: UIS / CoMagic Data API",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Data API URL", "password": "Access token"},
                    "placeholders": {
                        "host": "https://dataapi.uiscom.ru/v2.0",
                        "extra": '{"timeout": 60}',
                    },
                },
            },
            {
                "connection-type": "ident_napopravku",
                "hook-class-name": "ident_hooks.napopravku.NaPopravkuHook",
                "hook-name": "IDENT: NaPopravku RTA API",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "RTA API URL", "password": "Bearer token"},
                    "placeholders": {
                        "host": "https://rta-api.napopravku.ru/api/v1",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
            {
                "connection-type": "ident_flexbe",
                "hook-class-name": "ident_hooks.flexbe.FlexbeHook",
                "hook-name": "IDENT: Flexbe landing pages",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Site URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://clinic-promo.ru",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
            {
                "connection-type": "ident_top32",
                "hook-class-name": "ident_hooks.top32.Top32Hook",
                "hook-name": "IDENT: 32top partner API (assumed contract)",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Partner API URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://app.32top.ru/api/partner/v1",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
            {
                "connection-type": "ident_sberzdorovie",
                "hook-class-name": "ident_hooks.sberzdorovie.SberZdorovieHook",
                "hook-name": "IDENT: SberZdorovye schedule push (assumed contract)",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "API URL", "login": "Partner login", "password": "Password"},
                    "placeholders": {
                        "host": "https://api.docdoc.ru/mis/v1",
                        "login": "partner.12345",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
            {
                "connection-type": "ident_prodoctorov",
                "hook-class-name": "ident_hooks.prodoctorov.ProDoctorovHook",
                "hook-name": "IDENT: ProDoctorov (MedFlex) schedule",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "MedFlex API URL", "password": "API token"},
                    "placeholders": {
                        "host": "https://api.prodoctorov.ru/v2",
                        "extra": '{"timeout": 60}',
                    },
                },
            },
            {
                "connection-type": "ident_dadata",
                "hook-class-name": "ident_hooks.dadata.DadataHook",
                "hook-name": "IDENT: DaData address standardisation",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Cleaner base URL", "login": "API key", "password": "Secret key"},
                    "placeholders": {
                        "host": "https://cleaner.dadata.ru",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
            {
                "connection-type": "ident_smsc",
                "hook-class-name": "ident_hooks.smsc.SmscHook",
                "hook-name": "IDENT: SMSC.ru SMS and e-mail",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "SMSC base URL", "login": "SMSC login", "password": "Password"},
                    "placeholders": {
                        "host": "https://smsc.ru",
                        "login": "clinic",
                        "extra": '{"timeout": 45, "apikey": "(instead of login and password)"}',
                    },
                },
            },
            {
                "connection-type": "ident_google_calendar",
                "hook-class-name": "ident_hooks.google_calendar.GoogleCalendarHook",
                "hook-name": "IDENT: Google Calendar",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "API root URL", "password": "Service-account JSON key"},
                    "placeholders": {
                        "host": "https://www.googleapis.com/",
                        "extra": '{"timeout": 45}',
                    },
                },
            },
        ],
    }
