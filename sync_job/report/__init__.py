"""What a run tells people and monitors: the results file (CSV or .xlsx), the summary JSON,
the HTML run report, the rejects file and the problem codes."""
