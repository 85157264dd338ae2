"""Planning, pure: rows and snapshot → what each row will do (normalize, repeats of the
snapshot, diff, validation rules, the safety brake)."""
