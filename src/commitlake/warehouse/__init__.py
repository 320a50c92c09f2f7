"""The warehouse: the embedded or external PostgreSQL, its layout, the raw loader and the role matrix."""

from commitlake.warehouse.db import Warehouse, connect, ensure_schema, open_warehouse, redact_url

__all__ = ["Warehouse", "connect", "ensure_schema", "open_warehouse", "redact_url"]
