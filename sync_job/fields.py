"""The contact fields, named once: the changes file, the snapshot, the request body, the
journal and the results all use these names, in this order (the API's)."""

ID_FIELD = "contactId"
VALUE_FIELDS: tuple[str, ...] = ("names", "number", "email")
"""The fields an update can change, in the order a request body lists them."""
ALL_FIELDS: tuple[str, ...] = (ID_FIELD, *VALUE_FIELDS)
"""The snapshot's columns."""
STATUSES: tuple[str, ...] = ("updated", "unchanged", "invalid", "failed", "skipped", "planned")
"""What can become of a row, in the order the results, summary and history count them."""
