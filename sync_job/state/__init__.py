"""State kept between runs, beside the snapshot: the snapshot itself, the journal of confirmed
updates, the run lock, and the rules for the files a run writes."""
