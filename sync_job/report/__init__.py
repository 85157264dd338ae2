"""What a run tells people and monitors: the results CSV, the summary JSON and the HTML run
report."""
