"""Small helpers about the machine the pipeline runs on, with no dependency on any liveops package.

A package of its own at the bottom of the import order (below streams/ and flows/, beside schemas/), so
that both the Kafka door (streams/) and the Prefect flows (flows/) can share them without importing
each other or the settings.
"""
