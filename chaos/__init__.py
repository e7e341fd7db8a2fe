"""The chaos run: many journeys against real processes while workers are SIGKILLed and the
Temporal server restarts, then a count, at the vendors, of anything lost or delivered twice.

``python -m chaos.run --journeys 300 --kills 5`` (``make chaos``).
"""
