"""Curation (S2): filters that drop unusable calls, scrubbing of personal data and secrets, de-duplication.

See docs/curation.md. Importing a submodule that needs Presidio (`scrub`, `recognizers`) costs several seconds;
the others are light.
"""
