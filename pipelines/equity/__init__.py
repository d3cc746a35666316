"""Equity standards: race/ethnicity (OMB SPD 15), class (poverty guideline), statistics."""
