"""Setting up a trial in the browser: settings, arms, sites, staff, and what is collected."""
