"""Reading: the changes file (CSV, text or workbook) → a table of text cells with the row
numbers an operator sees. Nothing here judges a value; see ``sync_job.plan``."""
