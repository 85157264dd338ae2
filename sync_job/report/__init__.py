"""What a run tells people and monitors: the results file (CSV or .xlsx), the summary
JSON and the problem codes."""
