"""Randomisation schemes: defining, checking and locking them, their sealed lists, the
commitment and the CONSORT text."""
