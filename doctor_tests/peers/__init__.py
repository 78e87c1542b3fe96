"""The peers: third-party fault-management stacks the monitor can report to, measured
beside Doctor's sample inspector (docs/peers.md).

- :mod:`~doctor_tests.peers.vitrage`: Vitrage's event API (``POST /v1/event``, the doctor
  datasource's format), service type ``rca``;
- :mod:`~doctor_tests.peers.masakari`: Masakari's notifications API (``POST
  /v1/notifications``, a ``COMPUTE_HOST`` notification as masakari-monitors' host monitor
  sends it), service type ``instance-ha``;
- :mod:`~doctor_tests.peers.auth`: the Keystone token and the endpoint both need, from an
  openstacksdk session.

Each reporter is a :class:`~doctor_tests.monitor.report.Reporter`: the monitor sends its
host-down (and host-up) reports through it instead of to the sample inspector.
"""
