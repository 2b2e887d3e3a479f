"""Malformed input at volume (benchmarks.malformed_volume): a corpus of real records, the bad records made from
it, and the checks that every one was dead-lettered by every service that reads its topic."""
