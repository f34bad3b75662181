"""The contact log: caseworkers log contacts (with a participant, or with an employer about no
single participant), correct them within the edit window, and the contamination exposures a
contact makes are derived as it is saved."""
