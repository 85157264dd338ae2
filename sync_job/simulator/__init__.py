"""The bundled simulator of the Huduma update-contact API (``sync-job simulate``), for trying
the job, for the tests and for the benchmarks."""

from sync_job.simulator.server import RecordedRequest, Simulator, load_contacts, serve

__all__ = ["RecordedRequest", "Simulator", "load_contacts", "serve"]
