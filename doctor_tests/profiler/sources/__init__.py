"""Where checkpoints come from: trace points, service logs, the message bus, Aodh's history.

Every source yields :class:`~doctor_tests.profiler.model.Candidate` readings; the
:class:`~doctor_tests.profiler.collect.ProfileBuilder` picks one per checkpoint.
"""
