"""The benchmark: ingest, throughput against the engine's ceiling, alert latency, journeys in flight."""
