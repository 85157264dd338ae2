"""The contact fields, named once: the changes file, the snapshot, the request body, the
journal and the results all use these names, in this order (the API's)."""

ID_FIELD = "contactId"
VALUE_FIELDS: tuple[str, ...] = ("names", "number", "email")
"""The fields an update can change, in the order a request body lists them."""
ALL_FIELDS: tuple[str, ...] = (ID_FIELD, *VALUE_FIELDS)
"""The snapshot's columns."""
