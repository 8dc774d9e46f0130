"""The scripted user lives in the sandbox package (the demo uses it too); tests import it from here."""

from __future__ import annotations

from airflow_oauth_provider.sandbox.user import approve_device, consent, obtain_refresh_token

__all__ = ["approve_device", "consent", "obtain_refresh_token"]
