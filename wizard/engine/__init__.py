"""The deploy engine: phases that connect, gather facts, install, upload, activate, verify and
roll back, run per node in a bounded parallel pool, reporting typed events to sinks."""
