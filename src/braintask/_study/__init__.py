"""Recorded studies: resumable units of work with their provenance (code, versions,
hardware), and the re-check of a record against today's code."""
