"""Electronic consent (issue 21, item 5): a trial's consent text versions, the participant's
consent page (through a personal link or on a staff device), the signed record with its PDF
snapshot, re-consent to a new version and withdrawal through the link.
See docs/decisions.md "Electronic consent (issue 21, item 5)"."""
