"""Reports: the subject report, eDISH and the subject charts, arms compared, statistics."""
