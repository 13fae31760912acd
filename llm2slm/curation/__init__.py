"""Curation (S2): scrubbing personal data out of call records, and the filters that drop unusable calls."""
