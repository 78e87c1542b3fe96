"""Doctor performance profiler: where every millisecond of a fault went.

Checkpoints T00..T10 come from the suite's trace points, the services' logs, the message
bus and Aodh's alarm history (:mod:`doctor_tests.profiler.sources`); the
:class:`~doctor_tests.profiler.collect.ProfileBuilder` picks one reading per checkpoint;
the :class:`~doctor_tests.profiler.model.Profile` derives the notification time, the
components (which add up to T10 - T00) and order violations; :mod:`.report` and
:mod:`.svg` render it, :mod:`.junit` and :mod:`.results_db` export it.
"""
