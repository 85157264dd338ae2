"""What a run tells people and monitors: the results CSV and the summary JSON."""
