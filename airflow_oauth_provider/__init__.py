"""airflow-oauth-provider: call OAuth 2.0 protected APIs from Airflow DAGs without juggling tokens."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
