"""Pre-screening a hospital's data for the protocol's candidates (issue #7): the OMOP code
mapping (vocabulary) and a synthetic OMOP population (synth)."""
