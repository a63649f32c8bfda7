"""apiha_reference: the apiplatform.ha REFERENCE PLATFORM (the project's own stand-in, not the API-testing platform).

Five small services (dashboard, scheduler, worker, mailer, connector) that use PostgreSQL, MongoDB and RabbitMQ the
way the real platform's services do, so the lab can deploy them with the ``app_service`` role and measure failover
end to end. Run one with ``python3 -m apiha_reference <service>``; configuration comes from APIHA_* variables only.
"""

__version__ = "1.0.0"

SERVICES = ("dashboard", "scheduler", "worker", "mailer", "connector")
